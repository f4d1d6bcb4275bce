"""``summary.md`` of one sweep: status counts, one line per point, the seed-averaged tables and
comparisons (:mod:`qtn.sweep.report`), and links to the plots."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qtn.sweep.report import render_results

POINT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("point", "point"),
    ("status", "status"),
    ("variant", "variant"),
    ("method", "method"),
    ("trainable_params", "trainable params"),
    ("train_loss", "train loss"),
    ("eval_loss", "eval loss"),
    ("metric", "metric"),
    ("wall_time_s", "wall s"),
    ("error", "error"),
)


def points_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One markdown line per point (failed points show their error)."""
    lines = [
        "| " + " | ".join(h for _, h in POINT_COLUMNS) + " |",
        "|" + "---|" * len(POINT_COLUMNS),
    ]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(k), k) for k, _ in POINT_COLUMNS) + " |")
    return "\n".join(lines)


def render_summary(
    rows: Sequence[Mapping[str, Any]],
    *,
    name: str,
    plots: Sequence[str | os.PathLike] = (),
    root: str | os.PathLike | None = None,
    methods: Sequence[str] = ("qtha", "circuit_mpo"),
) -> str:
    """The markdown summary of sweep ``name`` (plot links relative to ``root``)."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r.get("status"))] = counts.get(str(r.get("status")), 0) + 1
    status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    out = [f"# Sweep `{name}`", "", f"{len(rows)} points: {status or 'none'}.", ""]
    out += ["## Points", "", points_table(rows), ""]
    body = render_results(rows, title="Seed-averaged", methods=methods)
    out += ["#" + line if line.startswith("#") else line for line in body.splitlines()]
    images = [Path(p) for p in plots if str(p).endswith(".png")]
    if images:
        out += ["", "## Plots", ""]
        for p in images:
            rel = p.relative_to(root) if root is not None else p
            out.append(f"![{p.stem}]({rel.as_posix()})")
    return "\n".join(out) + "\n"


def _cell(value: Any, key: str) -> str:
    if value is None or value == "":
        return "-"
    if key == "trainable_params" and isinstance(value, int | float):
        return f"{round(value):,}"
    if key == "wall_time_s" and isinstance(value, int | float):
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else "-"
    return str(value).replace("|", "\\|").replace("\n", " ")[:120]
