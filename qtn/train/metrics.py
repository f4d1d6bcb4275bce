"""Run records: the metrics JSONL (one row per logged step / evaluation), the progress bar, and
a markdown table of results dicts (one row per run)."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm


class MetricsLog:
    """Append-only ``metrics.jsonl``. Opening it for a run resumed at ``resume_step`` drops the
    rows logged after that step (they are about to be recomputed), so the file of a resumed
    run has the same rows as an uninterrupted one; a fresh run (``resume_step=None``) starts
    an empty file."""

    def __init__(self, path: str | os.PathLike, *, resume_step: int | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = read_metrics(self.path) if resume_step is not None else []
        keep = [r for r in rows if int(r.get("step", 0)) <= (resume_step or 0)]
        with open(self.path, "w") as f:
            for r in keep:
                f.write(json.dumps(r) + "\n")

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (non-finite floats become null: JSON has no NaN)."""
        clean = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in row.items()
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(clean) + "\n")


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All rows of a metrics JSONL (missing file -> [])."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def progress_bar(total: int, initial: int, enabled: bool, desc: str = "train") -> tqdm:
    """A tqdm bar over optimizer steps (hidden when ``enabled`` is False)."""
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="step",
        disable=not enabled,
        dynamic_ncols=True,
        file=sys.stderr,
        leave=True,
    )


def results_table(results: Sequence[dict[str, Any]]) -> str:
    """Markdown table of ``run_training`` results: method, trainable params (and ratio to
    LoRA r=8 on the same modules), train loss, eval loss, task metric, wall time."""
    metric = next((r["metric_name"] for r in results if r.get("metric_name")), "metric")
    head = [
        "run",
        "method",
        "trainable params",
        "vs LoRA r=8",
        "train loss",
        "eval loss",
        metric,
        "wall s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for r in results:
        ratio = r.get("ratio_to_lora_r8")
        cells = [
            str(r.get("name", "")),
            str(r["method"]),
            f"{r['trainable_params']:,}",
            "-" if ratio is None else f"{ratio:.1%}",
            _fmt(r.get("train_loss")),
            _fmt(r.get("eval_loss")),
            _fmt(r.get("metric")),
            f"{r.get('wall_time_s', 0.0):.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4f}"
