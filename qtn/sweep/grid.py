"""Grid expansion: a base config + a grid over dotted keys + explicit points -> :class:`Point`\\ s.

Each point is one ``qtn train`` run. Its folder name is a readable slug of its overrides plus
a stable short hash of them (the same overrides give the same name on every machine and in
every Python process), and its ``config_hash`` fingerprints the whole merged config, so a
finished point is recognised as finished only while its config is unchanged.

>>> pts = expand_points({"adapter": {"method": "lora"}}, {"seed": [0, 1]}, [{"adapter.r": 4}])
>>> [p.overrides for p in pts]
[{'seed': 0, 'adapter.r': 4}, {'seed': 1, 'adapter.r': 4}]
>>> pts[0].config["adapter"]
{'method': 'lora', 'r': 4}
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qtn.train.config import set_dotted  # the same rule as `qtn train --set`

LABEL_KEY = "label"
"""Reserved key of an explicit point: a human-readable variant name (not a config key)."""

DEFAULT_SEED_KEYS: tuple[str, ...] = ("seed", "data.seed")
"""Override keys that are replicas, not variants: results are averaged over them."""

_SLUG_MAX = 64


@dataclass(frozen=True)
class Point:
    """One run of a sweep.

    Attributes:
        index: position in the sweep (grid outer, explicit points inner).
        overrides: ``{dotted key: value}`` that distinguish this point (grid + point values).
        config: the merged run config (base + common ``set`` + overrides), a plain dict.
        label: the point's ``label`` if given, else None.
        seed_keys: which override keys count as seeds (for :attr:`variant`).
    """

    index: int
    overrides: Mapping[str, Any]
    config: Mapping[str, Any]
    label: str | None = None
    seed_keys: tuple[str, ...] = DEFAULT_SEED_KEYS

    @property
    def name(self) -> str:
        """Folder name: ``<slug>-<8 hex of the overrides' hash>``."""
        return point_name(self.overrides)

    @property
    def config_hash(self) -> str:
        """sha256 (16 hex) of the merged config; changes whenever the run would change."""
        return config_hash(self.config)

    @property
    def variant(self) -> str:
        """What the point is, seeds aside: its label, else ``key=value`` of its non-seed
        overrides (``"method=lora r=8"``), else ``"base"``."""
        if self.label:
            return self.label
        parts = [
            f"{k.rsplit('.', 1)[-1]}={_text(v)}"
            for k, v in self.overrides.items()
            if k not in self.seed_keys
        ]
        return " ".join(parts) or "base"


def canonical_json(value: Any) -> str:
    """Key-sorted compact JSON (the hashing form; tuples and lists hash alike)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def short_hash(value: Any, n: int = 8) -> str:
    """First ``n`` hex digits of the sha256 of ``canonical_json(value)``."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:n]


def config_hash(config: Mapping[str, Any]) -> str:
    """Fingerprint of a run config, ignoring ``name`` and ``out_dir`` (set by the runner)."""
    core = {k: v for k, v in config.items() if k not in ("name", "out_dir")}
    return short_hash(core, 16)


def point_name(overrides: Mapping[str, Any]) -> str:
    """``{"adapter.method": "lora", "adapter.r": 8, "seed": 0}`` ->
    ``"method-lora_r-8_seed-0-<hash8>"``; ``{}`` -> ``"base-<hash8>"``."""
    parts = [f"{_clean(k.rsplit('.', 1)[-1])}-{_slug_value(v)}" for k, v in overrides.items()]
    slug = "_".join(parts).strip("-_.") or "base"
    return f"{slug[:_SLUG_MAX].rstrip('-_.')}-{short_hash(dict(overrides))}"


def merge_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with each dotted override applied in order."""
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        set_dotted(out, key, copy.deepcopy(value))
    return out


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product in key order (the last key varies fastest); ``{}`` -> ``[{}]``."""
    for key, values in grid.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid.{key} must be a non-empty list, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def expand_points(
    base: Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]] | None = None,
    points: Sequence[Mapping[str, Any]] | None = None,
    common: Mapping[str, Any] | None = None,
    seed_keys: Sequence[str] = DEFAULT_SEED_KEYS,
) -> list[Point]:
    """All points of a sweep: every grid combination (outer) x every explicit point (inner).

    Args:
        base: the base run config (nested dict).
        grid: ``{dotted key: [values]}``; crossed with each explicit point.
        points: explicit ``{dotted key: value}`` mappings (a ``label`` key names the variant);
            none given = the grid alone.
        common: dotted overrides applied to every point before its own (not part of its name).
        seed_keys: override keys averaged over in reports.

    Raises:
        ValueError: a key both in the grid and in a point, a bad grid, or two identical points.
    """
    combos = expand_grid(grid or {})
    explicit = [dict(p) for p in points] if points else [{}]
    start = merge_overrides(base, common or {})
    out: list[Point] = []
    seen: dict[str, int] = {}
    for combo in combos:
        for i, raw in enumerate(explicit):
            if not isinstance(raw, Mapping):
                raise ValueError(f"points[{i}] must be a mapping, got {raw!r}")
            own = {k: v for k, v in raw.items() if k != LABEL_KEY}
            clash = sorted(set(own) & set(combo))
            if clash:
                raise ValueError(f"points[{i}] sets grid key(s) {clash}; set each key in one place")
            overrides = {**combo, **own}
            label = raw.get(LABEL_KEY)
            point = Point(
                index=len(out),
                overrides=overrides,
                config=merge_overrides(start, overrides),
                label=str(label) if label is not None else None,
                seed_keys=tuple(seed_keys),
            )
            if point.name in seen:
                raise ValueError(
                    f"points {seen[point.name]} and {point.index} have the same overrides "
                    f"{overrides}"
                )
            seen[point.name] = point.index
            out.append(point)
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    return canonical_json(value)


def _clean(text: str) -> str:
    """Runs of characters unsafe in folder names -> one ``-``, trimmed."""
    return re.sub(r"[^A-Za-z0-9._+=]+", "-", text).strip("-.")


def _slug_value(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _text(value)  # digits, '.', '-', 'e', '+', 'inf', 'nan' are folder-safe
    return _clean(_text(value))
