"""Fair comparisons: choose one hyper-parameter per variant on the validation split, then run
the sweep's points (every seed) at the chosen value, scored on the base config's split.

``sweep.yaml``::

    select:
      key: train.lr                       # the dotted config key chosen per variant
      values: [5.0e-4, 2.0e-3, 8.0e-3]    # the same grid for every variant
      split: val                          # eval.split of the selection runs
      by: metric                          # metric (higher is better) | eval_loss (lower)
      seeds: {seed: 0}                    # the selection runs' seed overrides (default: the
                                          #   first value of each seed key in the grid)
      set: {eval.metric: false}           # extra overrides of the selection runs only (e.g.
                                          #   skip the task metric when selecting by eval_loss)
      search: grid                        # grid: every value | local: walk the sorted grid
      start: 2.0e-3                       #   from ``start`` (default: the middle value)

``search: local`` evaluates ``start`` and its two neighbours, then, while a variant's best
value has an unevaluated neighbour, that neighbour (:func:`local_next`): each variant ends
with its best value's neighbours on both sides evaluated and worse (or the best at an end of
the grid). When the validation score is unimodal along the grid (the usual shape of a loss
against a log-spaced learning rate) it picks what the full grid would, in about 3-5 runs per
variant instead of one per value. Failed runs (e.g. a diverged loss) count as worse.

Stage 1 runs every (variant, value) at the selection seeds into ``<out>/select/`` (a sweep of
its own: resumable, its own ``results.jsonl``); :func:`choose` picks, per variant, the value
with the best score (ties: the earlier value in ``values``) and ``<out>/selection.json``
records every score, and ``edge`` (``lowest`` / ``highest``) for a numeric choice at an end of
the grid: its optimum may lie outside the grid (``qtn sweep`` warns; widen ``values``); stage
2 is the sweep's own points with ``key`` set to their variant's choice. Variants that train
nothing (``adapter: null`` or ``method: none``) and points that set ``key`` themselves are
not selected: they run in stage 2 as written. The grid of a sweep with ``select`` may hold
seed keys only (variants are its explicit points).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qtn.sweep.grid import Point, expand_points

SELECT_KEYS = ("key", "values", "split", "by", "seeds", "set", "search", "start")
BY = ("metric", "eval_loss")
SEARCH = ("grid", "local")


@dataclass(frozen=True)
class SelectSpec:
    """A parsed ``select:`` block (see the module docstring)."""

    key: str
    values: tuple[Any, ...]
    split: str = "val"
    by: str = "metric"
    seeds: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    search: str = "grid"
    start: Any = None

    @classmethod
    def parse(cls, raw: Any, errors: list[str]) -> SelectSpec | None:
        """Validate ``raw``; problems are appended to ``errors`` (None returned then)."""
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            errors.append(f"select must be a mapping, got {raw!r}")
            return None
        unknown = sorted(set(raw) - set(SELECT_KEYS))
        if unknown:
            errors.append(f"select: unknown key(s) {unknown}; known: {list(SELECT_KEYS)}")
        key, values = raw.get("key"), raw.get("values")
        if not isinstance(key, str) or not key:
            errors.append(f"select.key must be a dotted config key, got {key!r}")
        if not isinstance(values, list) or len(values) < 2:
            errors.append(f"select.values must be a list of >= 2 values, got {values!r}")
        split, by = raw.get("split", "val"), raw.get("by", "metric")
        if split not in ("train", "val", "test"):
            errors.append(f"select.split must be train/val/test, got {split!r}")
        if by not in BY:
            errors.append(f"select.by must be one of {BY}, got {by!r}")
        seeds = raw.get("seeds") or {}
        if not isinstance(seeds, Mapping):
            errors.append(f"select.seeds must be a mapping of seed overrides, got {seeds!r}")
        extra = raw.get("set") or {}
        if not isinstance(extra, Mapping):
            errors.append(f"select.set must be a mapping of dotted overrides, got {extra!r}")
        if by == "metric" and extra.get("eval.metric") is False:
            errors.append("select.by is 'metric' but select.set turns eval.metric off")
        search, start = raw.get("search", "grid"), raw.get("start")
        if search not in SEARCH:
            errors.append(f"select.search must be one of {SEARCH}, got {search!r}")
        elif search == "local" and isinstance(values, list):
            start = _check_local(values, start, errors)
        elif start is not None:
            errors.append("select.start needs select.search: local")
        if len(errors) and any(e.startswith("select") for e in errors):
            return None
        return cls(key, tuple(values), split, by, dict(seeds), dict(extra), search, start)


def _check_local(values: list, start: Any, errors: list[str]) -> Any:
    """Local search walks a strictly increasing numeric grid from ``start`` (default: its
    middle value); returns the start."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if not numeric or any(a >= b for a, b in zip(values, values[1:], strict=False)):
        errors.append(f"select.search: local needs strictly increasing numbers in "
                      f"select.values, got {values!r}")
        return None
    if len(values) < 3:
        errors.append(f"select.search: local needs >= 3 values, got {values!r}")
    if start is None:
        return values[len(values) // 2]
    if start not in values:
        errors.append(f"select.start must be one of select.values {values!r}, got {start!r}")
    return start


def local_next(
    values: Sequence[Any], scores: Mapping[str, float | None], start: Any
) -> list[Any]:
    """The values local search runs next for one variant (see the module docstring).

    Args:
        values: the increasing grid. scores: ``{repr(value): score or None}`` of the runs that
            ended (None: failed, counted as worse than any score). start: the first value.

    Returns:
        [] when done: the best value's neighbours are evaluated (or off the grid).

    >>> grid = [1e-4, 1e-3, 1e-2, 1e-1]
    >>> local_next(grid, {}, 1e-2)
    [0.001, 0.01, 0.1]
    >>> local_next(grid, {"0.001": -1.0, "0.01": -2.0, "0.1": -3.0}, 1e-2)
    [0.0001]
    >>> local_next(grid, {"0.0001": -0.5, "0.001": -1.0, "0.01": -2.0, "0.1": -3.0}, 1e-2)
    []
    """
    i0 = list(values).index(start)
    if not scores:
        return [values[j] for j in (i0 - 1, i0, i0 + 1) if 0 <= j < len(values)]
    ranked = [(s, j) for j, v in enumerate(values) if (s := scores.get(repr(v))) is not None]
    if ranked:
        centres = [max(ranked, key=lambda t: (t[0], -t[1]))[1]]
    else:  # every run so far failed: widen the evaluated block on both sides
        centres = [j for j, v in enumerate(values) if repr(v) in scores]
    wanted = sorted({j for c in centres for j in (c - 1, c + 1) if 0 <= j < len(values)})
    return [values[j] for j in wanted if repr(values[j]) not in scores]


def trains(point: Point) -> bool:
    """Whether the point trains an adapter (selection is pointless otherwise)."""
    adapter = point.config.get("adapter")
    return isinstance(adapter, Mapping) and adapter.get("method") not in (None, "none")


def selection_points(
    select: SelectSpec,
    base: Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]],
    points: Sequence[Mapping[str, Any]],
    common: Mapping[str, Any],
    seed_keys: Sequence[str],
    only: Mapping[str, Sequence[Any]] | None = None,
) -> list[Point]:
    """Stage 1: every selectable variant x every value (``only``: just the values it lists per
    variant), at the selection seeds, evaluated on ``select.split``. Each point's label is its
    variant (so :func:`choose` can group). Raises ValueError if the grid has non-seed keys."""
    check_grid(grid, seed_keys)
    seeds = dict(select.seeds) or {k: list(v)[0] for k, v in grid.items()}
    finals = expand_points(base, {}, points, common, seed_keys)
    chosen: list[dict[str, Any]] = []
    for p in finals:
        if not trains(p) or select.key in p.overrides:
            continue
        for value in select.values if only is None else only.get(p.variant, ()):
            chosen.append(
                {
                    "label": p.variant,
                    **{k: v for k, v in p.overrides.items()},
                    **seeds,
                    **select.overrides,
                    select.key: value,
                    "eval.split": select.split,
                }
            )
    return expand_points(base, {}, chosen, common, seed_keys) if chosen else []


def score(row: Mapping[str, Any], by: str) -> float | None:
    """The selection score of a finished run's results (higher is better), or None."""
    value = row.get("metric" if by == "metric" else "eval_loss")
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if by == "metric" else -float(value)


def choose(
    select: SelectSpec, rows: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per variant: ``{"value": chosen, "scores": {repr(value): score or None}}`` from stage-1
    result rows (``label`` = variant, ``select.key`` column = value), plus ``"edge"`` when the
    choice is the lowest or highest of three or more numeric values (:func:`grid_edge`). A
    variant whose runs all failed gets ``value`` None."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        variant = row.get("label") or row.get("variant")
        entry = out.setdefault(str(variant), {"value": None, "scores": {}})
        entry["scores"][repr(row.get(select.key))] = (
            score(row, select.by) if row.get("status") == "done" else None
        )
    for entry in out.values():
        best, best_score = None, None
        for value in select.values:
            s = entry["scores"].get(repr(value))
            if s is not None and (best_score is None or s > best_score):
                best, best_score = value, s
        entry["value"] = best
        edge = grid_edge(select.values, best)
        if edge is not None:
            entry["edge"] = edge
    return out


def grid_edge(values: Sequence[Any], chosen: Any) -> str | None:
    """``"lowest"`` / ``"highest"`` when ``chosen`` is the smallest / largest of ``values`` (all
    real numbers, at least three of them), else None: a best score at an end of a grid says
    the optimum may lie beyond it.

    >>> grid_edge([1e-4, 1e-3, 1e-2], 1e-4), grid_edge([1e-4, 1e-3, 1e-2], 1e-3)
    ('lowest', None)
    """
    numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if chosen is None or len(numeric) < 3 or len(numeric) != len(values):
        return None
    if chosen == min(numeric):
        return "lowest"
    if chosen == max(numeric):
        return "highest"
    return None


def check_grid(grid: Mapping[str, Sequence[Any]], seed_keys: Sequence[str]) -> None:
    """A sweep with ``select`` varies only seeds in its grid (variants are explicit points)."""
    extra = sorted(k for k in grid if k not in seed_keys)
    if extra:
        raise ValueError(
            f"select: the grid may hold seed keys {list(seed_keys)} only, got {extra}; "
            "list the variants as points"
        )


def final_points(
    select: SelectSpec,
    base: Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]],
    points: Sequence[Mapping[str, Any]],
    common: Mapping[str, Any],
    seed_keys: Sequence[str],
    choices: Mapping[str, Mapping[str, Any]],
) -> list[Point]:
    """Stage 2: the sweep's points with ``select.key`` set to their variant's choice (points
    that train nothing or fix the key keep their own). Raises ValueError naming variants
    without a choice (all their selection runs failed or are unfinished)."""
    check_grid(grid, seed_keys)
    updated, missing = [], []
    for raw in points or [{}]:
        probe = expand_points(base, {}, [raw], common, seed_keys)[0]
        if trains(probe) and select.key not in probe.overrides:
            value = (choices.get(probe.variant) or {}).get("value")
            if value is None:
                missing.append(probe.variant)
            raw = {**raw, select.key: value}
        updated.append(raw)
    if missing:
        raise ValueError(f"no {select.key} was selected for variant(s) {missing} (their "
                         "selection runs failed or are unfinished)")
    return expand_points(base, grid, updated, common, seed_keys)
