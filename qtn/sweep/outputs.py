"""Everything a finished (or partial) sweep writes next to its points: ``results.csv``,
``results.jsonl``, ``plots/*.{png,svg}`` and ``summary.md``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from qtn.sweep.collect import collect, write_results
from qtn.sweep.grid import DEFAULT_SEED_KEYS
from qtn.sweep.plots import make_plots
from qtn.sweep.summary import render_summary


def write_outputs(
    root: str | os.PathLike,
    *,
    name: str | None = None,
    plots: bool = True,
    plot_x: Sequence[str] | None = None,
    seed_keys: Sequence[str] = DEFAULT_SEED_KEYS,
    methods: Sequence[str] = ("qtha", "circuit_mpo"),
) -> list[Path]:
    """Collect the sweep folder ``root`` and write its result files; returns them."""
    root = Path(root)
    rows = collect(root)
    files = write_results(rows, root)
    # plots and the summary read run configs through each row's folder
    located = [{**r, "dir": str(root / r["dir"])} for r in rows]
    images = (
        make_plots(located, root / "plots", x_keys=plot_x, seed_keys=seed_keys) if plots else []
    )
    summary = root / "summary.md"
    summary.write_text(
        render_summary(located, name=name or root.name, plots=images, root=root, methods=methods)
    )
    return [*files, *images, summary]
