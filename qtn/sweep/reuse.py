"""Reuse a finished training for a point that differs from it only in its final evaluation.

A sweep with ``select`` trains each variant at its chosen value and the selection seed twice:
once in stage 1 (scored on ``val``) and once in stage 2 (scored on ``test``). The two runs
differ only in ``eval.*`` keys, which touch nothing before the final evaluation, so stage 2's
run can start from stage 1's final checkpoint: :func:`seed_points` copies that checkpoint (and
the training's ``metrics.jsonl`` rows and ``params.md``) into the stage-2 point's folder and
marks it ``seeded``; the runner then resumes it, and ``qtn train --resume`` loads the
checkpoint, has no step left to train, and runs the final evaluation on the point's own split.
Its results (train loss, steps, FLOPs) are the training's; ``point.json`` names the source in
``seeded_from``. Nothing is seeded into a folder that exists already.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qtn.sweep.grid import Point, canonical_json
from qtn.sweep.layout import (
    POINT_FILE,
    TRAIN_CHECKPOINTS,
    TRAIN_RESULTS,
    point_dir,
    read_json,
    write_json,
)
from qtn.sweep.runner import is_finished

EVAL_ONLY_SECTIONS: tuple[str, ...] = ("eval",)
"""Config sections that act only after training (``qtn train --resume`` lets them change)."""

SEEDED = "seeded"
"""``point.json`` status of a folder seeded with another point's finished training."""


def training_key(config: Mapping[str, Any]) -> str:
    """The config without its evaluation-only sections, run name and output folder: two
    points with the same key train identically."""
    core = {
        k: v for k, v in config.items()
        if k not in EVAL_ONLY_SECTIONS and k not in ("name", "out_dir")
    }
    return canonical_json(core)


def final_checkpoint(folder: Path) -> Path | None:
    """The checkpoint of a finished run's last step (None when the run is unfinished, did
    not train, or its last checkpoint is older than its last step)."""
    from qtn.train.checkpoint import checkpoint_dir, list_checkpoints  # flax: imported late

    results = read_json(folder / TRAIN_RESULTS)
    if results is None or not is_finished(folder, read_json(folder / POINT_FILE)):
        return None
    steps = results.get("steps")
    checkpoints = list_checkpoints(folder / TRAIN_CHECKPOINTS)
    if not isinstance(steps, int) or steps < 1 or not checkpoints:
        return None
    last = checkpoints[-1]
    return last if last == checkpoint_dir(folder / TRAIN_CHECKPOINTS, steps) else None


def seed_points(
    targets: Sequence[Point],
    target_root: str | os.PathLike,
    sources: Sequence[Point],
    source_root: str | os.PathLike,
) -> dict[str, str]:
    """Seed every target point whose folder does not exist yet with the finished training of
    a source point of the same :func:`training_key`. Returns ``{target name: source name}``."""
    by_key: dict[str, Point] = {}
    for src in sources:
        by_key.setdefault(training_key(src.config), src)
    seeded: dict[str, str] = {}
    for point in targets:
        target = point_dir(target_root, point.name)
        src = by_key.get(training_key(point.config))
        if target.exists() or src is None:
            continue
        source = point_dir(source_root, src.name)
        ckpt = final_checkpoint(source)
        if ckpt is None:
            continue
        tmp = target.with_name(f".{target.name}.seeding")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(ckpt, tmp / TRAIN_CHECKPOINTS / ckpt.name)
        _copy_training_metrics(source / "metrics.jsonl", tmp / "metrics.jsonl")
        if (source / "params.md").is_file():
            shutil.copyfile(source / "params.md", tmp / "params.md")
        write_json(tmp / POINT_FILE, {
            "name": point.name,
            "config_hash": point.config_hash,
            "status": SEEDED,
            "seeded_from": str(Path(source).resolve()),
        })
        os.replace(tmp, target)
        seeded[point.name] = src.name
    return seeded


def _copy_training_metrics(src: Path, dst: Path) -> None:
    """The training rows of a metrics JSONL (the source's final-evaluation row is left out:
    the seeded run writes its own)."""
    from qtn.train.metrics import read_metrics

    rows = read_metrics(src)  # [] when missing
    if not rows:
        return
    dst.write_text("".join(json.dumps(r) + "\n" for r in rows if not r.get("final")))
