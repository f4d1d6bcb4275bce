"""Read HF ``*.safetensors`` checkpoints (single file or sharded with an index), numpy only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np


class CheckpointError(ValueError):
    """A checkpoint cannot be loaded; the message names the offending file / keys."""


def safetensors_files(folder: Path) -> list[Path]:
    """The weight files of a local HF folder: the shards named by
    ``model.safetensors.index.json``, else ``model.safetensors``, else every ``*.safetensors``.

    Raises:
        CheckpointError: no safetensors file (``*.bin`` / pickle checkpoints are refused).
    """
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (ValueError, KeyError) as err:
            raise CheckpointError(f"{index}: invalid safetensors index ({err})") from err
        files = [folder / name for name in sorted(set(weight_map.values()))]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise CheckpointError(f"{index} names shard files that do not exist: {missing}")
        return files
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        hint = " (pickle *.bin checkpoints are not loaded: convert to safetensors)" if any(
            folder.glob("*.bin")) else ""
        raise CheckpointError(f"no *.safetensors weights in {folder}{hint}")
    return files


def iter_tensors(files: list[Path]) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(key, array)`` for every tensor of every file (one tensor in memory at a time).

    Raises:
        CheckpointError: a truncated or corrupt file (the message names it).
    """
    from safetensors import SafetensorError, safe_open

    for path in files:
        try:
            with safe_open(str(path), framework="numpy") as f:
                for key in f.keys():
                    yield key, f.get_tensor(key)
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(
                f"cannot read safetensors file {path} (truncated or corrupt?): {err}"
            ) from err


def save_tensors(tensors: dict[str, np.ndarray], path: Path, metadata: dict[str, str]) -> None:
    """Write ``tensors`` to ``path`` atomically (a temporary file renamed at the end)."""
    from safetensors.numpy import save_file

    tmp = path.with_name(path.name + ".tmp")
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata)
    tmp.replace(path)
