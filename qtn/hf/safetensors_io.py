"""Read HF ``*.safetensors`` checkpoints: one file, or shards ``model-0000k-of-0000n.safetensors``
listed by ``model.safetensors.index.json``; tensors are memory-mapped one at a time (numpy and
ml_dtypes only, so bfloat16 checkpoints load without torch)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ml_dtypes
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


# safetensors dtype tags -> numpy dtypes (bfloat16 / float8 from ml_dtypes, as JAX uses)
_DTYPES: dict[str, Any] = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": ml_dtypes.bfloat16,
    "F8_E4M3": ml_dtypes.float8_e4m3fn,
    "F8_E5M2": ml_dtypes.float8_e5m2,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_MAX_HEADER = 100 * 1024 * 1024


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """``(header, data_start)`` of a safetensors file: the JSON header (``__metadata__``
    removed) and the byte offset where tensor data begins.

    Raises:
        CheckpointError: not a safetensors file, or a header pointing past the end of the file.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        n = int.from_bytes(raw, "little") if len(raw) == 8 else -1
        if not 0 < n <= min(_MAX_HEADER, size - 8):
            raise CheckpointError(f"{path} is not a safetensors file (bad header length {n})")
        try:
            header = json.loads(f.read(n))
        except ValueError as err:
            raise CheckpointError(f"{path}: corrupt safetensors header ({err})") from err
    header.pop("__metadata__", None)
    start = 8 + n
    for key, info in header.items():
        begin, end = info["data_offsets"]
        if info["dtype"] not in _DTYPES:
            raise CheckpointError(f"{path}: tensor {key!r} has unsupported dtype {info['dtype']}")
        itemsize = np.dtype(_DTYPES[info["dtype"]]).itemsize
        want = int(np.prod(info["shape"], dtype=np.int64)) * itemsize
        if end - begin != want or start + end > size:
            raise CheckpointError(
                f"cannot read safetensors file {path} (truncated or corrupt?): tensor {key!r} "
                f"needs bytes {start + begin}..{start + end} of a {size}-byte file"
            )
    return header, start


def iter_tensors(files: list[Path]) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(key, array)`` for every tensor of every file, in file order.

    Each array is a read-only memory map of the file in the stored dtype (bfloat16 included),
    so nothing is read until it is used: a loader that converts one tensor at a time holds one
    tensor in memory, whatever the checkpoint's size or number of shards.

    Raises:
        CheckpointError: a truncated or corrupt file (the message names it).
    """
    for path in files:
        try:
            header, start = read_header(path)
            data = np.memmap(path, dtype=np.uint8, mode="r")
        except (OSError, ValueError, KeyError) as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(
                f"cannot read safetensors file {path} (truncated or corrupt?): {err}"
            ) from err
        for key, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            begin, end = info["data_offsets"]
            dtype = np.dtype(_DTYPES[info["dtype"]])
            yield key, data[start + begin : start + end].view(dtype).reshape(info["shape"])


def save_tensors(tensors: dict[str, np.ndarray], path: Path, metadata: dict[str, str]) -> None:
    """Write ``tensors`` to ``path`` atomically (a temporary file renamed at the end)."""
    from safetensors.numpy import save_file

    tmp = path.with_name(path.name + ".tmp")
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata)
    tmp.replace(path)
