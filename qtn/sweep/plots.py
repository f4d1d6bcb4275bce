"""Sweep plots (matplotlib's object API on the Agg canvas: no global backend state), each saved
as PNG and SVG:

- ``pareto_<y>``: eval loss / task metric vs trainable params, one marker per method, the
  Pareto front (fewer params and better value) as a line, the no-adapter run as a dashed line;
- ``<y>_vs_<key>``: the same quantities vs each swept numeric key (bond dim, depth, rank...),
  one marker per method, the mean over the other keys joined by a line;
- ``log10_flops_vs_<key>``: when the runs report training FLOPs;
- ``loss_curves``: training loss vs step of every variant (mean over its seeds), from each
  point's ``metrics.jsonl``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qtn.sweep.aggregate import value
from qtn.sweep.layout import HIGHER_IS_BETTER, flops_key

MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
FORMATS: tuple[str, ...] = ("png", "svg")
NON_AXIS_COLUMNS: frozenset[str] = frozenset(
    {"index", "seed", "data.seed", "steps", "trainable_params"}
)


def pareto_front(
    points: Sequence[tuple[float, float]], *, higher_is_better: bool = False
) -> list[tuple[float, float]]:
    """The non-dominated ``(params, value)`` points, sorted by params (fewer params and a
    better value dominate).

    >>> pareto_front([(1, 3.0), (2, 2.0), (3, 2.5), (4, 1.0)])
    [(1, 3.0), (2, 2.0), (4, 1.0)]
    """
    sign = -1.0 if higher_is_better else 1.0
    front: list[tuple[float, float]] = []
    best = math.inf
    for x, y in sorted(points, key=lambda p: (p[0], sign * p[1])):
        if sign * y < best:
            front.append((x, y))
            best = sign * y
    return front


def axis_keys(rows: Sequence[Mapping[str, Any]], seed_keys: Sequence[str] = ()) -> list[str]:
    """Dotted override columns (``adapter.bond``) with >= 2 distinct numeric values."""
    keys: list[str] = []
    for row in rows:
        for k in row:
            if "." in k and k not in keys and k not in seed_keys and k not in NON_AXIS_COLUMNS:
                keys.append(k)
    out = []
    for k in keys:
        vals = {row.get(k) for row in rows if _num(row.get(k))}
        if len(vals) >= 2:
            out.append(k)
    return out


def make_plots(
    rows: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    *,
    x_keys: Sequence[str] | None = None,
    seed_keys: Sequence[str] = ("seed", "data.seed"),
) -> list[Path]:
    """Write every applicable plot of the finished ``rows`` into ``out_dir``; returns the
    files (PNG and SVG of each). Several tasks get one set of plots each (``_<task>``)."""
    done = [r for r in rows if r.get("status") == "done"]
    tasks = list(dict.fromkeys(r.get("task") for r in done))
    out = Path(out_dir)
    files: list[Path] = []
    for task in tasks:
        tr = [r for r in done if r.get("task") == task]
        suffix = f"_{_safe(str(task))}" if len(tasks) > 1 else ""
        metric = next((r.get("metric_name") for r in tr if r.get("metric_name")), None)
        ys = [("eval_loss", "eval loss", False)]
        if any(_num(r.get("metric")) for r in tr):
            ys.append(("metric", metric or "metric", HIGHER_IS_BETTER.get(str(metric), True)))
        for q, label, higher in ys:
            files += _pareto(tr, q, label, higher, out / f"pareto_{q}{suffix}")
        keys = list(x_keys) if x_keys is not None else axis_keys(tr, seed_keys)
        for key in keys:
            for q, label, _ in ys:
                files += _versus(tr, key, q, label, False, out / f"{q}_vs_{_safe(key)}{suffix}")
            if any(flops_key(r) for r in tr):
                stem = out / f"log10_flops_vs_{_safe(key)}{suffix}"
                files += _versus(tr, key, "train_flops", "log10 training FLOPs", True, stem)
        files += loss_curves(tr, out / f"loss_curves{suffix}")
    return files


def train_curve(folder: str | os.PathLike) -> dict[int, float]:
    """``{step: training loss}`` from a run folder's ``metrics.jsonl`` ({} when absent)."""
    import json

    path = Path(folder) / "metrics.jsonl"
    if not path.is_file():
        return {}
    curve = {}
    for line in path.read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        if _num(row.get("loss")) and isinstance(row.get("step"), int):
            curve[row["step"]] = float(row["loss"])
    return curve


def loss_curves(rows: Sequence[Mapping[str, Any]], stem: Path) -> list[Path]:
    """Training loss vs step per variant (mean over the seeds that logged the step)."""
    by_variant: dict[str, list[dict[int, float]]] = {}
    for r in rows:
        curve = train_curve(r["dir"]) if r.get("dir") else {}
        if curve:
            by_variant.setdefault(str(r.get("variant")), []).append(curve)
    if not by_variant:
        return []
    fig, ax = _figure()
    for i, (variant, curves) in enumerate(by_variant.items()):
        steps = sorted({s for c in curves for s in c})
        means = [sum(c[s] for c in curves if s in c) / sum(s in c for c in curves) for s in steps]
        ax.plot(steps, means, lw=1.2, label=f"{variant} ({len(curves)})",
                color=f"C{i % 10}", ls=("-", "--", ":", "-.")[(i // 10) % 4])
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (mean over seeds)")
    ax.set_title("training loss")
    return _save(fig, ax, stem)


def _pareto(rows: Sequence[Mapping[str, Any]], q: str, label: str, higher: bool, stem: Path):
    fig, ax = _figure()
    pts: list[tuple[float, float]] = []
    baseline = [float(value(r, q)) for r in rows if _is_base(r) and _num(value(r, q))]
    for i, (method, mrows) in enumerate(_by_method(rows).items()):
        xy = [
            (float(r["trainable_params"]), float(value(r, q)))
            for r in mrows
            if not _is_base(r) and _num(r.get("trainable_params")) and _num(value(r, q))
        ]
        if xy:
            ax.scatter(*zip(*xy, strict=True), label=method, alpha=0.8, **_style(i))
            pts += xy
    if pts:
        front = pareto_front(pts, higher_is_better=higher)
        ax.plot(
            *zip(*front, strict=True),
            drawstyle="steps-post",
            color="k",
            lw=1,
            marker="o",
            ms=11,
            mfc="none",
            label="Pareto front",
        )
        if min(p[0] for p in pts) > 0 and max(p[0] for p in pts) / min(p[0] for p in pts) > 10:
            ax.set_xscale("log")
    if baseline:
        ax.axhline(sum(baseline) / len(baseline), ls="--", color="gray", label="no adapter")
    if not pts and not baseline:
        return []
    ax.set_xlabel("trainable params")
    ax.set_ylabel(label)
    ax.set_title(f"{label} vs trainable params")
    return _save(fig, ax, stem)


def _versus(
    rows: Sequence[Mapping[str, Any]], key: str, q: str, label: str, log10: bool, stem: Path
):
    fig, ax = _figure()
    drawn = False
    for i, (method, mrows) in enumerate(_by_method(rows).items()):
        xy = []
        for r in mrows:
            y = value(r, q)
            if _num(r.get(key)) and _num(y) and (not log10 or y > 0):
                xy.append((float(r[key]), math.log10(y) if log10 else float(y)))
        if not xy:
            continue
        ax.scatter(*zip(*xy, strict=True), label=method, alpha=0.7, **_style(i))
        xs = sorted({x for x, _ in xy})
        means = [sum(y for x, y in xy if x == v) / sum(1 for x, _ in xy if x == v) for v in xs]
        ax.plot(xs, means, lw=1, color=_style(i)["color"])
        drawn = True
    if not drawn:
        return []
    ax.set_xlabel(key)
    ax.set_ylabel(label)
    ax.set_title(f"{label} vs {key}")
    return _save(fig, ax, stem)


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Any, ax: Any, stem: Path) -> list[Path]:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in FORMATS:
        path = stem.with_name(f"{stem.name}.{ext}")
        fig.savefig(path, format=ext)
        paths.append(path)
    return paths


def _style(i: int) -> dict[str, str]:
    """Marker and colour of the i-th method (the same method looks the same in every plot)."""
    return {"marker": MARKERS[i % len(MARKERS)], "color": f"C{i % 10}"}


def _by_method(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Rows per method, methods in sorted order (stable styles across plots and sweeps)."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        out.setdefault(str(r.get("method")), []).append(r)
    return dict(sorted(out.items()))


def _is_base(row: Mapping[str, Any]) -> bool:
    return row.get("method") in (None, "none") or row.get("trainable_params") == 0


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "x"
