"""Training checkpoints: ``<root>/step_00000050/{state.safetensors, state.json}``.

``state.safetensors`` holds the adapter parameters and RNG state of the model (``model/...``)
and the whole optimizer state (``optimizer/...``); ``state.json`` holds the step, the data
iterator position and whatever the loop needs to continue exactly (loss history, timings).
Each checkpoint is written to a temp dir and renamed into place, so a crash never leaves a
half-written checkpoint; only the newest ``keep`` are kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from flax import nnx
from safetensors.numpy import load_file, save_file

from qtn.adapters.io import atomic_directory, set_state_arrays, state_arrays
from qtn.nn.variables import AdapterParam

STATE_FILE = "state.safetensors"
META_FILE = "state.json"
FORMAT = "qtn-checkpoint"
FLAT_OPTIMIZER_KEY = "opt_state.peaks.core"
"""A tensor every checkpoint of the one-vector optimizer (qtn.train.optim.flat_adamw) holds."""
_STEP_DIR = re.compile(r"step_(\d+)$")
MODEL_STATE = nnx.Any(AdapterParam, nnx.RngState)


def checkpoint_dir(root: str | os.PathLike, step: int) -> Path:
    return Path(root) / f"step_{step:08d}"


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if _STEP_DIR.match(p.name) and (p / STATE_FILE).is_file() and (p / META_FILE).is_file()
    ]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under ``root`` (None if there is none)."""
    found = list_checkpoints(root)
    return found[-1] if found else None


def save_checkpoint(
    root: str | os.PathLike,
    step: int,
    model: nnx.Module,
    optimizer: nnx.Optimizer,
    meta: dict[str, Any],
    *,
    keep: int = 2,
) -> Path:
    """Write checkpoint ``step`` atomically and prune all but the newest ``keep``."""
    arrays = {f"model/{k}": v for k, v in state_arrays(model, MODEL_STATE).items()}
    arrays |= {f"optimizer/{k}": v for k, v in state_arrays(optimizer, ...).items()}
    target = checkpoint_dir(root, step)
    with atomic_directory(target) as tmp:
        save_file(arrays, str(tmp / STATE_FILE), metadata={"format": FORMAT})
        (tmp / META_FILE).write_text(
            json.dumps({"format": FORMAT, "step": step, **meta}, indent=1) + "\n"
        )
    for old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(
    path: str | os.PathLike, model: nnx.Module, optimizer: nnx.Optimizer
) -> dict[str, Any]:
    """Restore model adapter/RNG state and optimizer state from ``path``; returns the meta."""
    path = Path(path)
    meta = json.loads((path / META_FILE).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a qtn checkpoint (format {meta.get('format')!r})")
    arrays = load_file(str(path / STATE_FILE))
    split: dict[str, dict] = {"model": {}, "optimizer": {}}
    for key, value in arrays.items():
        part, _, name = key.partition("/")
        if part not in split:
            raise ValueError(f"{path}: unexpected tensor {key!r}")
        split[part][name] = value
    set_state_arrays(model, split["model"], MODEL_STATE, what=f"checkpoint {path} (model)")
    if split["optimizer"] and not any(k.endswith(FLAT_OPTIMIZER_KEY) for k in split["optimizer"]):
        raise ValueError(
            f"{path}: its optimizer state is the per-leaf AdamW of qtn before the one-vector "
            "optimizer (qtn.train.optim.flat_adamw); it cannot be resumed: start the run again "
            "(the adapter weights in <run>/adapter/ of a finished run still load)"
        )
    set_state_arrays(optimizer, split["optimizer"], ..., what=f"checkpoint {path} (optimizer)")
    return meta
