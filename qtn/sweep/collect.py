"""Collect a sweep's point folders into rows and write ``results.jsonl`` / ``results.csv``.

One row per point: ``point``, ``index``, ``status`` (``done`` / ``failed`` / ``running`` /
``pending``), ``variant``, ``label``, the point's overrides as columns named by their dotted
key (``adapter.r``), every key of qtn train's ``results.json``, then ``error`` (and, in the
JSONL only, ``log_tail``; ``samples``, the run's scored eval samples, is JSONL-only too) and
``dir`` (the point folder relative to the sweep folder).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from qtn.sweep.grid import Point
from qtn.sweep.layout import (
    MANIFEST,
    POINT_CONFIG,
    POINT_FILE,
    POINTS_DIR,
    TRAIN_RESULTS,
    read_json,
    write_json,
)
from qtn.sweep.runner import is_finished

CSV_EXCLUDE: frozenset[str] = frozenset({"log_tail", "samples"})


def write_manifest(
    root: str | os.PathLike, name: str, points: Sequence[Point], source: Any
) -> None:
    """Record the sweep's current points (so collection ignores folders of removed points)."""
    write_json(
        Path(root) / MANIFEST,
        {
            "name": name,
            "source": str(source) if source else None,
            "points": [p.name for p in points],
        },
    )


def point_folders(root: str | os.PathLike) -> list[Path]:
    """The point folders of a sweep: those in its manifest if there is one, else every folder
    under ``points/`` whose ``point.json`` names it (moved-aside stale folders are left out)."""
    root = Path(root)
    manifest = read_json(root / MANIFEST)
    if manifest is not None and isinstance(manifest.get("points"), list):
        return [root / POINTS_DIR / str(n) for n in manifest["points"]]
    found = []
    for state_path in sorted((root / POINTS_DIR).glob(f"*/{POINT_FILE}")):
        state = read_json(state_path) or {}
        if state.get("name") == state_path.parent.name:
            found.append(state_path.parent)
    return found


def point_row(folder: Path, root: Path | None = None) -> dict[str, Any]:
    """The row of one point folder (see the module docstring)."""
    state = read_json(folder / POINT_FILE)
    results = read_json(folder / TRAIN_RESULTS) or {}
    if state is None:
        status = "pending"
    elif is_finished(folder, state):
        status = "done"
    else:
        status = str(state.get("status") or "pending")
    state = state or {"name": folder.name}
    row: dict[str, Any] = {
        "point": state.get("name", folder.name),
        "index": state.get("index"),
        "status": status,
        "variant": state.get("variant"),
        "label": state.get("label"),
    }
    row.update(state.get("overrides") or {})
    row.update(_identity(folder))
    if status == "done":
        row.update(results)
    row["error"] = state.get("error") if status != "done" else None
    row["log_tail"] = state.get("log_tail") if status != "done" else None
    row["dir"] = str(folder.relative_to(root)) if root is not None else str(folder)
    return row


def collect(root: str | os.PathLike) -> list[dict[str, Any]]:
    """All rows of the sweep folder ``root``, in sweep order."""
    root = Path(root)
    rows = [point_row(f, root) for f in point_folders(root)]
    return sorted(rows, key=lambda r: (r["index"] is None, r["index"] or 0))


def collect_many(roots: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """Rows of several sweep folders (``dir`` is prefixed with each folder's path)."""
    rows: list[dict[str, Any]] = []
    for root in roots:
        for row in collect(root):
            rows.append({**row, "dir": str(Path(root) / row["dir"])})
    return rows


def write_results(rows: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike) -> list[Path]:
    """Write ``results.jsonl`` (every field) and ``results.csv`` (all columns in first-seen
    order, lists/dicts as JSON, no log tails); returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "results.jsonl"
    jsonl.write_text("".join(json.dumps(dict(r), default=str) + "\n" for r in rows))
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns and k not in CSV_EXCLUDE]
    path = out / "results.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _cell(r.get(k)) for k in columns})
    return [path, jsonl]


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows back from a ``results.jsonl``."""
    text = Path(path).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _identity(folder: Path) -> dict[str, Any]:
    """``method`` and ``task`` from the point's run config, so rows of points that did not
    finish still group with their variant (finished ones get both from results.json)."""
    try:
        config = yaml.safe_load((folder / POINT_CONFIG).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    adapter = config.get("adapter") or {}
    data = config.get("data") or {}
    method = adapter.get("method") if isinstance(adapter, dict) else None
    return {
        "method": method or "none",
        "task": data.get("task") if isinstance(data, dict) else None,
    }


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple | dict):
        return json.dumps(value)
    return value
