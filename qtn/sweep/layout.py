"""Where a sweep keeps things, and what it assumes about ``qtn train``'s output (one place).

Sweep folder (``SweepSpec.out``)::

    sweep.json            manifest: sweep name, source, point names in run order
    points/<point name>/  one qtn train output folder per point, plus the sweep's own files:
        point.json          overrides, label, config hash, status, attempts, error, log tail
        train_config.yaml   the merged run config passed to ``qtn train --config``
        train.log           stdout + stderr of every attempt (appended)
        error.txt           the error and log tail of a failed attempt (removed on success)
        results.json        written by qtn train at the very end of a run (=> finished)
        checkpoints/        written by qtn train (=> an interrupted run can ``--resume``)
    results.csv / results.jsonl / summary.md / plots/

``qtn train`` contract (qtn/experiment/run.py): ``--out DIR`` is the output folder, ``--resume``
continues from its newest checkpoint (a fresh start when there is none), and the final
``results.json`` holds the keys of :data:`RESULT_KEYS`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

POINTS_DIR = "points"
POINT_FILE = "point.json"
POINT_CONFIG = "train_config.yaml"
LOG_FILE = "train.log"
ERROR_FILE = "error.txt"
MANIFEST = "sweep.json"
TRAIN_RESULTS = "results.json"
TRAIN_CHECKPOINTS = "checkpoints"

RESULT_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "method": "method",
        "task": "task",
        "trainable_params": "trainable_params",
        "lora_r8_params": "lora_r8_params",
        "train_loss": "train_loss",
        "eval_loss": "eval_loss",
        "metric": "metric",
        "metric_name": "metric_name",
        "wall_time": "wall_time_s",
    }
)
"""Role -> key in qtn train's ``results.json`` (matches qtn/experiment/run.py)."""

FLOPS_KEYS: tuple[str, ...] = ("train_flops", "training_flops", "flops")
"""Training-FLOPs columns looked for, first present wins (qtn train does not write one yet)."""

HIGHER_IS_BETTER: Mapping[str, bool] = MappingProxyType(
    {"accuracy": True, "exact_match": True, "perplexity": False}
)
"""Direction of each task metric name qtn train reports; unknown names count as higher-better."""

FRACTION_METRICS: frozenset[str] = frozenset({"accuracy", "exact_match"})
"""Metrics in [0, 1]: differences are reported in percentage points."""


def point_dir(root: str | os.PathLike, name: str) -> Path:
    """The folder of point ``name`` under sweep folder ``root``."""
    return Path(root) / POINTS_DIR / name


def read_json(path: str | os.PathLike) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when missing or unreadable (a torn write)."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(path: str | os.PathLike, value: Mapping[str, Any]) -> None:
    """Write JSON atomically (temp file + rename): readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(value, f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def flops_key(row: Mapping[str, Any]) -> str | None:
    """The first :data:`FLOPS_KEYS` entry present (not None) in ``row``."""
    return next((k for k in FLOPS_KEYS if row.get(k) is not None), None)
