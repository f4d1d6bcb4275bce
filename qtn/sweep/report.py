"""The paper-style results table, rendered from run outputs only (no hand-typed numbers).

    python -m qtn.sweep.report RUN_DIR [RUN_DIR ...] --out RESULTS.md

reads every sweep folder given (``qtn sweep`` output), averages over seeds per task and
variant, renders one markdown table per task, the comparisons "QTHA (or circuit-MPO) at X %
of LoRA r=8's params: training loss Δ %, metric Δ pts vs LoRA r=8" with a plain verdict per
method, and the paper's own claims (:data:`PAPER_CLAIMS`, constants quoted from the paper,
labelled as such).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from qtn.sweep.aggregate import Comparison, Group, Stat, aggregate, compare, compare_pair
from qtn.sweep.collect import collect_many
from qtn.sweep.layout import read_json


@dataclass(frozen=True)
class PaperClaims:
    """What arXiv 2503.12790 reports (quoted, not measured by qtn)."""

    source: str = (
        "arXiv 2503.12790 (Origin Quantum), QTHA vs LoRA on a DeepSeek-class ~1B model, "
        "quantum part on the 72-qubit Origin Wukong chip"
    )
    params_delta_pct: float = -76.0
    train_loss_delta_pct: tuple[float, float] = (-15.0, -17.0)
    test_metric_delta_pct: tuple[float, float] = (8.4, 17.0)

    def to_markdown(self) -> str:
        """One bullet list, every number labelled as the paper's."""
        lo, hi = self.train_loss_delta_pct
        tlo, thi = self.test_metric_delta_pct
        return "\n".join(
            [
                f"The paper's claims (constants quoted from {self.source}; not reproduced here):",
                "",
                f"- paper: trainable parameters {self.params_delta_pct:+.0f} % vs LoRA",
                f"- paper: training loss {lo:+.0f} % to {hi:+.0f} % vs LoRA",
                f"- paper: test metrics {tlo:+.1f} % to {thi:+.0f} % vs LoRA",
            ]
        )


PAPER_CLAIMS = PaperClaims()

SETUP_KEYS: tuple[str, ...] = (
    "model.path",
    "model.dtype",
    "data.n_train",
    "data.n_eval",
    "data.max_len",
    "data.batch_size",
    "train.steps",
    "train.grad_accum",
    "train.lr",
)
"""Run-config keys listed under each table so reduced budgets are stated, not hidden."""


def fmt_stat(s: Stat, digits: int = 4, *, integer: bool = False, sci: bool = False) -> str:
    """``"1.2346 ± 0.0100"``; ``"-"`` when missing; no ``±`` with one value or zero spread."""
    if s.mean is None:
        return "-"

    def one(x: float) -> str:
        if integer:
            return f"{round(x):,}"
        return f"{x:.{max(digits - 2, 1)}e}" if sci else f"{x:.{digits}f}"

    if s.std is None or s.std <= 1e-12 * max(1.0, abs(s.mean)):  # equal values, rounding
        return one(s.mean)
    return f"{one(s.mean)} ± {one(s.std)}"


def results_table(groups: Sequence[Group], reference_rank: int = 8) -> str:
    """A markdown table of ``groups`` (one task): mean ± std over seeds."""
    metric = next((g.metric_name for g in groups if g.metric_name), None) or "metric"
    head = [
        "method",
        "variant",
        "seeds",
        "trainable params",
        f"% of LoRA r={reference_rank}",
        "train loss",
        "eval loss",
        metric,
        "train FLOPs",
        "lr",
        "wall s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in groups:
        pct = g.param_pct_of_lora_r8
        if pct is not None and reference_rank != 8:
            pct = pct * 8 / reference_rank
        seeds = str(g.n_done) + (f" ({g.n_failed} failed)" if g.n_failed else "")
        cells = [
            str(g.method or "-"),
            g.variant,
            seeds,
            fmt_stat(g.stats["trainable_params"], integer=True),
            "-" if pct is None else f"{pct:.1f}",
            fmt_stat(g.stats["train_loss"]),
            fmt_stat(g.stats["eval_loss"]),
            fmt_stat(g.stats["metric"]),
            fmt_stat(g.stats["train_flops"], 3, sci=True),
            "-" if g.mean("lr") is None else f"{g.mean('lr'):.3g}",
            fmt_stat(g.stats["wall_time"], 1),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


QUANTUM_COUNTS = ("circuits", "distinct_circuits", "shots", "jobs")


def quantum_table(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Per variant with circuits: executor, shots, gradient, device and the counted circuits,
    distinct circuits, shots and jobs per training step (mean over seeds; ``not counted`` for
    runs with ``quantum.track`` off); None when no row ran circuits."""
    per_variant: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        q = r.get("quantum")
        if r.get("status") == "done" and isinstance(q, Mapping):
            per_variant.setdefault(str(r.get("variant")), []).append(r)
    if not per_variant:
        return None
    lines = [
        "| variant | executor | shots | gradient | device | "
        + " | ".join(f"{k.replace('_', ' ')} / step" for k in QUANTUM_COUNTS) + " |",
        "|---|---|---:|---|---|" + "---:|" * len(QUANTUM_COUNTS),
    ]
    for variant, members in per_variant.items():
        q = members[0]["quantum"]
        cells = [variant, str(q.get("executor")), str(q.get("shots") or "-"),
                 str(q.get("gradient")), str(q.get("device"))]
        if not any(m["quantum"].get("train_totals") for m in members):
            # quantum.track was off: nothing was counted (not zero circuits)
            lines.append("| " + " | ".join(cells + ["not counted"] * len(QUANTUM_COUNTS)) + " |")
            continue
        for key in QUANTUM_COUNTS:
            per_step = [
                (m["quantum"].get("train_totals") or {}).get(f"quantum_{key}", 0)
                / max(int(m.get("steps") or 1), 1)
                for m in members
            ]
            cells.append(f"{sum(per_step) / len(per_step):,.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


TIME_KEYS: tuple[tuple[str, str], ...] = (
    ("wall_time_s", "wall s"),
    ("compile_s", "compile s"),
    ("train_s", "train s"),
    ("eval_s", "eval s"),
)


def time_table(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Per finished point: wall time and its compile / train / eval parts (``qtn train``'s
    results; compile = every program of the run, built before its first step). None when no
    row has them."""
    done = [r for r in rows if r.get("status") == "done" and r.get("compile_s") is not None]
    if not done:
        return None
    lines = [
        "| point | " + " | ".join(label for _, label in TIME_KEYS) + " |",
        "|---|" + "---:|" * len(TIME_KEYS),
    ]
    for r in done:
        name = str(r.get("label") or r.get("variant") or r.get("name"))
        if r.get("seed") is not None:
            name += f" (seed {r['seed']})"
        cells = [_num(r.get(key), ".1f") for key, _ in TIME_KEYS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


METHOD_LABELS = types.MappingProxyType({"qtha": "QTHA", "circuit_mpo": "circuit-MPO"})


def method_label(method: Any) -> str:
    """How a method is named in the report (``QTHA``, ``circuit-MPO``; else upper case)."""
    return METHOD_LABELS.get(str(method), str(method).upper())


def comparison_statement(c: Comparison) -> str:
    """``QTHA (variant) at 23.4 % of LoRA r=8's trainable params: training loss −3.1 %, accuracy
    +1.2 pts vs LoRA r=8 -> does not match LoRA r=8 here (3 vs 3 seeds).``"""
    g, ref, r = c.candidate, c.reference, c.reference_rank
    metric = g.metric_name or "metric"
    if c.metric_pts is not None:
        m = f"{metric} {c.metric_pts:+.1f} pts ({_pct(c.metric_pct)})"
    else:
        m = f"{metric} {_pct(c.metric_pct)}"
    flag = (
        " **Uninformative: neither beats the majority-class baseline.**" if c.uninformative else ""
    )
    if not r:  # a pair of variants (compare_pair)
        return (
            f"{g.variant} vs {ref.variant} ({_num(c.param_pct, '.1f')} % of its params): "
            f"training loss {_pct(c.train_loss_pct)}, eval loss {_pct(c.eval_loss_pct)}, {m} "
            f"-> **{c.verdict} {ref.variant} here** ({g.n_done} vs {ref.n_done} seeds).{flag}"
        )
    return (
        f"{method_label(g.method)} ({g.variant}) at {_num(c.param_pct, '.1f')} % of LoRA r={r}'s "
        f"trainable params: training loss {_pct(c.train_loss_pct)}, eval loss "
        f"{_pct(c.eval_loss_pct)}, {m} vs LoRA r={r} -> **{c.verdict} LoRA r={r} here** "
        f"({g.n_done} vs {ref.n_done} seeds).{flag}"
    )


def setup_line(rows: Sequence[Mapping[str, Any]]) -> str:
    """The run-config values of :data:`SETUP_KEYS` shared by (or ranging over) ``rows``."""
    values: dict[str, list[Any]] = {k: [] for k in SETUP_KEYS}
    for row in rows:
        config = _read_config(row.get("dir"))
        for key in SETUP_KEYS:
            v = _dotted(config, key)
            if v is not None and v not in values[key]:
                values[key].append(v)
    parts = [f"{k}={'/'.join(map(str, v))}" for k, v in values.items() if v]
    return "setup (from the run configs): " + (", ".join(parts) if parts else "unknown")


def selection_table(selection: Mapping[str, Any]) -> str:
    """A sweep's ``selection.json`` as markdown: per variant the chosen value, its score, and
    every value run with its score (validation loss, or the metric when selecting by it)."""
    key, by = selection.get("key", "value"), selection.get("by", "metric")
    label = "val loss" if by == "eval_loss" else f"val {by}"

    def shown(score: Any) -> str:
        if score is None:
            return "failed"
        return f"{-score if by == 'eval_loss' else score:.4f}"

    lines = [f"| variant | chosen {key} | {label} | runs ({key}: {label}) |", "|---|---:|---:|---|"]
    for variant, entry in (selection.get("variants") or {}).items():
        scores = entry.get("scores") or {}
        runs = ", ".join(f"{v}: {shown(s)}" for v, s in sorted(
            scores.items(), key=lambda kv: float(kv[0]) if _is_number(kv[0]) else 0.0))
        value = entry.get("value")
        best = scores.get(repr(value)) if value is not None else None
        edge = f" ({entry['edge']} of the grid)" if entry.get("edge") else ""
        lines.append(f"| {variant} | {value}{edge} | {shown(best) if value is not None else '-'}"
                     f" | {runs} |")
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def render_results(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str = "Results",
    command: str | None = None,
    methods: Sequence[str] = ("qtha", "circuit_mpo"),
    reference_rank: int = 8,
    claims: PaperClaims = PAPER_CLAIMS,
    notes: Sequence[str] = (),
    pairs: Sequence[tuple[str, str]] = (),
    selections: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The whole results document: per task a table, its setup, the comparisons; then the
    paper's claims and the caller's ``notes`` (one bullet each). ``command`` is named as the
    generator. ``pairs``: ``(candidate, reference)`` variant names compared on every task
    (e.g. an ablation). ``selections``: per task, the sweep's ``selection.json`` (how each
    variant's hyper-parameter was chosen), shown under the task's table."""
    groups = aggregate(rows)
    # Points that never finished carry no results (not even their task): count, don't tabulate.
    unfinished = sum(g.task is None and not g.n_done for g in groups)
    groups = [g for g in groups if not (g.task is None and not g.n_done)]
    comparisons = compare(groups, methods, reference_rank)
    out = [f"# {title}", ""]
    if command:
        out += [f"Generated by `{command}` from the run outputs; do not edit by hand.", ""]
    out += [
        "Mean ± sample std over seeds (finished runs only). Budgets are reduced to fit a "
        "2-core CPU; the setup line under each table gives them. Verdicts compare training "
        "loss and the task metric with LoRA's: a difference counts only beyond the seed noise "
        "sqrt(std_a² + std_b²) (with one seed, any difference counts); *matches* = no "
        "difference that counts, *beats* = none worse and one better.",
        "",
    ]
    if unfinished:
        out += [f"{unfinished} sweep point(s) had not finished when this was generated "
                "(not shown; the seeds column counts the finished runs).", ""]
    tasks = list(dict.fromkeys(g.task for g in groups))
    for task in tasks:
        tg = [g for g in groups if g.task == task]
        out += [f"## Task: {task}", "", results_table(tg, reference_rank), ""]
        out += [setup_line([r for r in rows if r.get("task") == task]), ""]
        chosen = (selections or {}).get(str(task))
        if chosen:
            out += [f"Chosen on the {chosen.get('split', 'val')} split before the test runs "
                    f"({chosen.get('search', 'grid')} search over {chosen.get('values')}):",
                    "", selection_table(chosen), ""]
        prior = next((g.mean("majority_baseline") for g in tg
                      if g.mean("majority_baseline") is not None), None)
        if prior is not None:
            out += [f"Majority-class baseline of the evaluated split (always answering its "
                    f"most common label): {prior:.4f}.", ""]
        tc = [c for c in comparisons if c.candidate.task == task]
        for c in tc:
            out += [f"- {comparison_statement(c)}"]
        if not tc:
            out += [
                f"- no {'/'.join(methods)} vs LoRA r={reference_rank} comparison (missing runs)"
            ]
        for cand, ref in pairs:
            out += [f"- {comparison_statement(c)}"
                    for c in compare_pair(tg, cand, ref)]
        out += [""]
        qt = quantum_table([r for r in rows if r.get("task") == task])
        if qt:
            out += ["Circuits sent to the executor (counted during the runs):", "", qt, ""]
        tt = time_table([r for r in rows if r.get("task") == task])
        if tt:
            out += ["Time per point (seconds; compile = all of a run's programs, built before "
                    "its first step):", "", tt, ""]
    out += [verdict_paragraph(comparisons, reference_rank), "", claims.to_markdown(), ""]
    if notes:
        out += ["Notes:", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(out)


def verdict_paragraph(
    comparisons: Sequence[Comparison], reference_rank: int = 8, *, max_pct: float = 24.0
) -> str:
    """Plainly: does each method at <= ``max_pct`` % of LoRA's params match or beat it here?
    Comparisons where neither side beats the majority class (``uninformative``) are listed
    but not counted."""
    small = [c for c in comparisons if c.param_pct is not None and c.param_pct <= max_pct]
    scope = f"at <= {max_pct:g} % of LoRA r={reference_rank}'s trainable parameters"
    if not small:
        return f"**Verdict:** no finished run {scope}, so this table does not test the claim."
    heads = []
    for name in dict.fromkeys(c.candidate.method for c in small):
        mine = [c for c in small if c.candidate.method == name]
        # a comparison where neither side beats the majority class says nothing: not counted
        counted = [c for c in mine if not c.uninformative]
        short = [c for c in counted if c.verdict == "does not match"]
        method = method_label(name)
        parts = "; ".join(
            f"{c.candidate.task}: {c.candidate.variant} at {c.param_pct:.1f} % "
            + ("uninformative, neither beats the majority class" if c.uninformative
               else f"{c.verdict} it")
            for c in mine
        )
        if not counted:
            head = f"{method} has no informative comparison with LoRA r={reference_rank} here"
        elif not short:
            head = (f"{method} matches or beats LoRA r={reference_rank} in every informative "
                    "comparison here")
        else:
            head = (
                f"{method} does not match LoRA r={reference_rank} in {len(short)} of "
                f"{len(counted)} informative comparisons here"
            )
        heads.append(f"{head} ({parts})")
    return f"**Verdict:** {scope}, " + "; ".join(heads) + "."


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qtn.sweep.report RUN_DIR [...] --out RESULTS.md``."""
    p = argparse.ArgumentParser(
        prog="python -m qtn.sweep.report", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("run_dirs", nargs="+", help="sweep output folders (qtn sweep --out)")
    p.add_argument("--out", default=None, help="markdown file to write (default: stdout)")
    p.add_argument("--title", default="Results")
    p.add_argument(
        "--methods", default="qtha,circuit_mpo", help="comma list compared with LoRA"
    )
    p.add_argument("--reference-rank", type=int, default=8)
    p.add_argument("--note", action="append", default=[], help="a sentence for the notes list")
    p.add_argument(
        "--pair",
        action="append",
        default=[],
        metavar="CANDIDATE::REFERENCE",
        help="also compare two variants by name on every task (e.g. an ablation)",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    missing = [d for d in args.run_dirs if not Path(d).is_dir()]
    if missing:
        print(f"report: error: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = collect_many(args.run_dirs)
    selections = {}
    for d in args.run_dirs:
        selection = read_json(Path(d) / "selection.json")
        task = next((r.get("task") for r in rows if r.get("dir", "").startswith(str(Path(d)))
                     and r.get("task")), None)
        if selection is not None and task is not None:
            selections[str(task)] = selection
    command = "python -m qtn.sweep.report " + shlex.join(argv)
    text = render_results(
        rows,
        title=args.title,
        command=command,
        methods=tuple(m for m in args.methods.split(",") if m),
        reference_rank=args.reference_rank,
        notes=args.note,
        pairs=[_pair(p) for p in args.pair],
        selections=selections,
    )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def _pair(text: str) -> tuple[str, str]:
    if "::" not in text:
        raise SystemExit(f"report: error: --pair {text!r} is not CANDIDATE::REFERENCE")
    a, b = text.split("::", 1)
    return a.strip(), b.strip()


def _read_config(folder: str | os.PathLike | None) -> dict[str, Any]:
    from qtn.sweep.layout import POINT_CONFIG

    if not folder:
        return {}
    try:
        config = yaml.safe_load((Path(folder) / POINT_CONFIG).read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}


def _dotted(d: Mapping[str, Any], key: str) -> Any:
    node: Any = d
    for part in key.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:+.1f} %"


def _num(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


if __name__ == "__main__":
    sys.exit(main())
