"""A sweep's record of finished points that outlives its run folder (``keep:`` in sweep.yaml).

Run folders (``runs/``) are scratch: a fresh clone, another machine or a cleaned disk starts
without them, and a long sweep would then run every finished point again. ``keep: DIR`` (a
folder meant to be committed with the experiment) holds a copy of each finished point's small
files, :data:`KEPT_FILES` (no checkpoints, no adapter weights: a few KB per point)::

    DIR/points/<point name>/point.json, train_config.yaml, results.json, metrics.jsonl, params.md

Before a sweep runs, :func:`restore_points` copies a kept point back into its run folder when
the run folder has no finished copy and the kept ``point.json`` has the point's current config
hash: the point then counts as finished and is not run again. After each finished point,
:func:`keep_point` records it. A kept point of another config hash (the config changed) is
ignored and overwritten when the point finishes again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from qtn.sweep.grid import Point
from qtn.sweep.layout import (
    POINT_CONFIG,
    POINT_FILE,
    POINTS_DIR,
    TRAIN_RESULTS,
    point_dir,
    read_json,
)
from qtn.sweep.runner import is_finished, move_aside, plan_point

KEPT_FILES: tuple[str, ...] = (
    POINT_FILE,
    POINT_CONFIG,
    TRAIN_RESULTS,
    "metrics.jsonl",
    "params.md",
)
"""The files of a finished point that are kept (``point.json`` and ``results.json`` required)."""


def kept_dir(keep: str | os.PathLike, name: str) -> Path:
    """Where point ``name``'s files are kept."""
    return Path(keep) / POINTS_DIR / name


def is_kept(point: Point, keep: str | os.PathLike) -> bool:
    """A finished copy of ``point`` with its current config hash is kept."""
    d = kept_dir(keep, point.name)
    state = read_json(d / POINT_FILE)
    return (
        state is not None
        and state.get("config_hash") == point.config_hash
        and is_finished(d, state)
    )


def keep_point(folder: str | os.PathLike, keep: str | os.PathLike) -> Path | None:
    """Copy a finished point folder's :data:`KEPT_FILES` to ``keep`` (each file written to a
    temporary name, then renamed: an interrupted copy leaves the previous one whole). Returns
    the kept folder, or None when ``folder`` is not finished."""
    folder = Path(folder)
    if not is_finished(folder, read_json(folder / POINT_FILE)):
        return None
    target = kept_dir(keep, folder.name)
    target.mkdir(parents=True, exist_ok=True)
    # results.json last: a kept folder without it (copy cut short) does not count as kept
    for name in sorted(KEPT_FILES, key=lambda n: n == TRAIN_RESULTS):
        src = folder / name
        if src.is_file():
            tmp = target / f".{name}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, target / name)
    return target


def restore_points(
    points: Iterable[Point], root: str | os.PathLike, keep: str | os.PathLike
) -> list[str]:
    """Copy each kept point whose run folder under ``root`` holds no finished copy back into
    it (an unfinished or outdated run folder is moved aside first, nothing is deleted).
    Returns the names restored."""
    restored = []
    for point in points:
        if not is_kept(point, keep):
            continue
        plan = plan_point(point, root)  # the runner's own finished / stale verdict
        if plan.action == "skip":
            continue
        d = plan.dir
        if d.exists():
            state = read_json(d / POINT_FILE) or {}
            move_aside(d, str(state.get("config_hash") or "unknown"))
        d.mkdir(parents=True)
        src = kept_dir(keep, point.name)
        for name in KEPT_FILES:
            if (src / name).is_file():
                shutil.copyfile(src / name, d / name)
        restored.append(point.name)
    return restored


def keep_points(
    points: Iterable[Point], root: str | os.PathLike, keep: str | os.PathLike
) -> list[str]:
    """:func:`keep_point` for every finished point of ``points`` under ``root`` that is not
    kept with its current config hash yet. Returns the names newly kept."""
    kept = []
    for point in points:
        d = point_dir(root, point.name)
        state = read_json(d / POINT_FILE)
        if state is None or state.get("config_hash") != point.config_hash:
            continue
        if not is_kept(point, keep) and keep_point(d, keep) is not None:
            kept.append(point.name)
    return kept
