"""Aggregate sweep rows over seeds and compare a method with LoRA r=8.

Rows (see :mod:`qtn.sweep.collect`) are grouped by ``(task, variant)``; each group gets the
mean ± sample std (ddof=1) over its finished seeds of train loss, eval loss, task metric,
trainable params, training FLOPs (when a run reports them) and wall time.

>>> rows = [{"status": "done", "task": "t", "variant": "v", "method": "lora", "train_loss": x}
...         for x in (1.0, 3.0)]
>>> g, = aggregate(rows)
>>> g.stats["train_loss"].mean, g.stats["train_loss"].std, g.n_done
(2.0, 1.4142135623730951, 2)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qtn.sweep.layout import FRACTION_METRICS, HIGHER_IS_BETTER, RESULT_KEYS, flops_key

QUANTITIES: tuple[str, ...] = (
    "trainable_params",
    "train_loss",
    "eval_loss",
    "metric",
    "train_flops",
    "wall_time",
    "majority_baseline",
    "lr",
)
"""Aggregated quantities (roles of :data:`qtn.sweep.layout.RESULT_KEYS`, plus FLOPs, the eval
split's majority-class score and the learning rate)."""


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation of ``n`` values (std is None when n < 2)."""

    mean: float | None
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Iterable[Any]) -> Stat:
        """The stat of the finite numbers in ``values`` (others are ignored)."""
        xs = [float(v) for v in values if _is_number(v) and math.isfinite(float(v))]
        if not xs:
            return cls(None, None, 0)
        mean = math.fsum(xs) / len(xs)
        if len(xs) < 2:
            return cls(mean, None, 1)
        var = math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
        return cls(mean, math.sqrt(var), len(xs))


@dataclass(frozen=True)
class Group:
    """One method/variant on one task, over its seeds.

    ``rank`` is LoRA's rank (from an ``adapter.r`` override, else inferred exactly from the
    trainable count: LoRA's is linear in r); ``lora_r8_params`` is what LoRA r=8 would train
    on the same target modules (reported by qtn train)."""

    task: str | None
    variant: str
    method: str | None
    metric_name: str | None
    n_done: int
    n_failed: int
    stats: Mapping[str, Stat]
    lora_r8_params: float | None = None
    rank: float | None = None

    def mean(self, quantity: str) -> float | None:
        """Mean of ``quantity`` (None when no finished run reports it)."""
        return self.stats[quantity].mean

    @property
    def param_pct_of_lora_r8(self) -> float | None:
        """Trainable params as % of LoRA r=8's on the same targets."""
        p = self.mean("trainable_params")
        if p is None or not self.lora_r8_params or self.method in (None, "none"):
            return None
        return 100.0 * p / self.lora_r8_params


def value(row: Mapping[str, Any], quantity: str) -> Any:
    """The row's value of an aggregated ``quantity`` (FLOPs: the first FLOPs column present)."""
    if quantity == "train_flops":
        key = flops_key(row)
        return row.get(key) if key else None
    if quantity == "lr":
        return row.get("train.lr")
    return row.get(RESULT_KEYS.get(quantity, quantity))


def aggregate(rows: Sequence[Mapping[str, Any]]) -> list[Group]:
    """Groups in order of first appearance; only ``done`` rows enter the stats."""
    buckets: dict[tuple[Any, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        key = (row.get(RESULT_KEYS["task"]), str(row.get("variant") or row.get("point")))
        buckets.setdefault(key, []).append(row)
    groups = []
    for (task, variant), members in buckets.items():
        done = [r for r in members if r.get("status") == "done"]
        first = done[0] if done else members[0]
        lora8 = Stat.of(r.get(RESULT_KEYS["lora_r8_params"]) for r in done).mean
        stats = {q: Stat.of(value(r, q) for r in done) for q in QUANTITIES}
        method = first.get(RESULT_KEYS["method"])
        groups.append(
            Group(
                task=task,
                variant=variant,
                method=method,
                metric_name=first.get(RESULT_KEYS["metric_name"]),
                n_done=len(done),
                n_failed=sum(r.get("status") == "failed" for r in members),
                stats=stats,
                lora_r8_params=lora8,
                rank=_rank(done, method, stats["trainable_params"].mean, lora8),
            )
        )
    return groups


def _rank(
    done: Sequence[Mapping[str, Any]], method: Any, params: float | None, lora8: float | None
) -> float | None:
    if method != "lora":
        return None
    ranks = {r.get("adapter.r") for r in done} - {None}
    if len(ranks) == 1:
        return float(ranks.pop())
    if params and lora8:
        r = 8.0 * params / lora8
        return float(round(r)) if abs(r - round(r)) < 1e-9 else r
    return None


@dataclass(frozen=True)
class Comparison:
    """A candidate group against the LoRA r=``reference_rank`` group of the same task.

    Deltas are candidate − reference: ``train_loss_pct`` / ``eval_loss_pct`` relative (%),
    ``metric_pts`` in percentage points for [0, 1] metrics (else None) and ``metric_pct``
    relative (%). ``verdict`` is ``beats``, ``matches`` or ``does not match``: a difference
    counts only beyond the seed noise sqrt(std_a² + std_b²) (with one seed, any difference
    counts); ``beats`` = no quantity worse and at least one better."""

    candidate: Group
    reference: Group
    reference_rank: int
    param_pct: float | None
    train_loss_pct: float | None
    eval_loss_pct: float | None
    metric_pts: float | None
    metric_pct: float | None
    verdict: str

    @property
    def uninformative(self) -> bool:
        """Neither side's metric beats the majority-class baseline beyond its seed noise: a
        "match" then only says both learned the label prior."""
        return not (beats_prior(self.candidate) or beats_prior(self.reference))


def beats_prior(g: Group) -> bool:
    """The group's metric is above its split's majority-class score by more than its seed
    std (True when no baseline is known, e.g. perplexity or generated tasks)."""
    prior, metric = g.mean("majority_baseline"), g.stats["metric"]
    if prior is None or metric.mean is None:
        return True
    if not HIGHER_IS_BETTER.get(str(g.metric_name), True):
        return True
    return metric.mean - prior > (metric.std or 0.0)


def find_reference(groups: Sequence[Group], task: Any, rank: int = 8) -> Group | None:
    """The LoRA group of rank ``rank`` on ``task`` with finished runs, if any."""
    for g in groups:
        if g.task == task and g.method == "lora" and g.rank == rank and g.n_done:
            return g
    return None


def compare(
    groups: Sequence[Group],
    methods: Sequence[str] = ("qtha", "circuit_mpo"),
    reference_rank: int = 8,
) -> list[Comparison]:
    """A :class:`Comparison` for every finished group of ``methods`` whose task has a LoRA
    r=``reference_rank`` group."""
    out = []
    for g in groups:
        if g.method not in methods or not g.n_done:
            continue
        ref = find_reference(groups, g.task, reference_rank)
        if ref is None:
            continue
        out.append(_compare(g, ref, reference_rank))
    return out


def compare_pair(groups: Sequence[Group], candidate: str, reference: str) -> list[Comparison]:
    """``candidate`` vs ``reference`` variant (by name) on every task where both finished
    (e.g. the paper's ABC vs its AB ablation: what the quantum part adds)."""
    out = []
    for g in groups:
        if g.variant != candidate or not g.n_done:
            continue
        ref = next((r for r in groups if r.task == g.task and r.variant == reference
                    and r.n_done), None)
        if ref is not None:
            out.append(_compare(g, ref, 0))
    return out


def _compare(g: Group, ref: Group, rank: int) -> Comparison:
    params = _rel(g.stats["trainable_params"], ref.stats["trainable_params"])
    higher = HIGHER_IS_BETTER.get(str(g.metric_name), True)
    scores = [
        _score(g.stats["train_loss"], ref.stats["train_loss"], higher_is_better=False),
        _score(g.stats["metric"], ref.stats["metric"], higher_is_better=higher),
    ]
    scores = [s for s in scores if s is not None]
    if not scores or any(s < 0 for s in scores):
        verdict = "does not match"
    elif any(s > 0 for s in scores):
        verdict = "beats"
    else:
        verdict = "matches"
    m, mr = g.stats["metric"].mean, ref.stats["metric"].mean
    fraction = g.metric_name in FRACTION_METRICS
    return Comparison(
        candidate=g,
        reference=ref,
        reference_rank=rank,
        param_pct=None if params is None else 100.0 + params,
        train_loss_pct=_rel(g.stats["train_loss"], ref.stats["train_loss"]),
        eval_loss_pct=_rel(g.stats["eval_loss"], ref.stats["eval_loss"]),
        metric_pts=100.0 * (m - mr) if fraction and m is not None and mr is not None else None,
        metric_pct=_rel(g.stats["metric"], ref.stats["metric"]),
        verdict=verdict,
    )


def _rel(a: Stat, b: Stat) -> float | None:
    """(a − b) / |b| in %."""
    if a.mean is None or b.mean is None or b.mean == 0:
        return None
    return 100.0 * (a.mean - b.mean) / abs(b.mean)


def _score(a: Stat, b: Stat, *, higher_is_better: bool) -> int | None:
    """+1 better beyond noise, −1 worse beyond noise, 0 within noise, None if unknown."""
    if a.mean is None or b.mean is None:
        return None
    diff = a.mean - b.mean if higher_is_better else b.mean - a.mean
    noise = math.hypot(a.std or 0.0, b.std or 0.0)
    if abs(diff) <= noise:
        return 0
    return 1 if diff > 0 else -1


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
