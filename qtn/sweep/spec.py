"""``sweep.yaml``: what a sweep runs. Example ``experiments/bond_depth/sweep.yaml``::

    name: bond_depth              # default: the folder holding sweep.yaml
    base: config.yaml             # a qtn train config: path (relative to this file) or mapping
    out: runs/sweeps/bond_depth   # default runs/sweeps/<name> (relative to the working dir)
    keep: null                    # a folder (to commit) keeping finished points' small files:
                                  #   a fresh clone restores them, not reruns (qtn.sweep.keep)
    set:                          # dotted overrides for every point (not part of folder names)
      train.steps: 50
    grid:                         # cartesian product over any dotted config keys
      seed: [0, 1, 2]
    points:                       # optional explicit points, each crossed with the grid
      - {label: no adapter, adapter.method: none}
      - {label: LoRA r=8, adapter.method: lora, adapter.r: 8}
      - {adapter.method: circuit_mpo, adapter.bond: 4, adapter.depth: 2}
    seed_keys: [seed, data.seed]  # replica keys averaged over in reports (this is the default)
    plot_x: [adapter.bond, adapter.depth]   # default: numeric override keys with >= 2 values
    jobs: 1                       # default parallel points (--jobs wins)
    env: {XLA_FLAGS: ...}         # extra environment for every run
    timeout_s: null               # per-point limit
    command: null                 # runner command template (default: qtn train, see runner)
    select: null                  # choose e.g. train.lr per variant on val first (qtn.sweep.select)
    resources: {num_cpus: 1, num_gpus: 0}   # per point, for --backend ray (custom keys too)

Relative paths inside the train config are resolved by ``qtn train`` from the working
directory the sweep is started in.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qtn.sweep.grid import DEFAULT_SEED_KEYS, Point, expand_points
from qtn.sweep.select import SelectSpec, check_grid

KNOWN_KEYS: tuple[str, ...] = (
    "name",
    "base",
    "out",
    "keep",
    "set",
    "grid",
    "points",
    "seed_keys",
    "plot_x",
    "jobs",
    "env",
    "timeout_s",
    "command",
    "select",
    "resources",
)


@dataclass(frozen=True)
class SweepSpec:
    """A parsed ``sweep.yaml`` (see the module docstring for the fields)."""

    name: str
    base: Mapping[str, Any]
    out: Path
    common: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    points: tuple[Mapping[str, Any], ...] = ()
    seed_keys: tuple[str, ...] = DEFAULT_SEED_KEYS
    plot_x: tuple[str, ...] | None = None
    jobs: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    command: tuple[str, ...] | None = None
    select: SelectSpec | None = None
    resources: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None
    keep: Path | None = None

    def expand(self) -> list[Point]:
        """The sweep's points, in run order (see :func:`qtn.sweep.grid.expand_points`)."""
        return expand_points(self.base, self.grid, self.points, self.common, self.seed_keys)

    def with_out(self, out: str | os.PathLike | None) -> SweepSpec:
        """The same sweep writing to ``out`` (unchanged when None)."""
        if out is None:
            return self
        return dataclasses.replace(self, out=Path(out))

    def sub(self, folder: str) -> SweepSpec:
        """The same sweep with ``out`` and ``keep`` one ``folder`` deeper (stage 1 of
        ``select``)."""
        keep = self.keep / folder if self.keep is not None else None
        return dataclasses.replace(self, out=self.out / folder, keep=keep)


def load_sweep(path: str | os.PathLike) -> SweepSpec:
    """Read and validate ``sweep.yaml``; every problem is reported in one ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file not found: {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a YAML mapping at top level")
    return parse_sweep(raw, root=path.parent, default_name=path.parent.name, source=path)


def parse_sweep(
    raw: Mapping[str, Any],
    *,
    root: str | os.PathLike = ".",
    default_name: str = "sweep",
    source: Path | None = None,
) -> SweepSpec:
    """Build a :class:`SweepSpec` from the YAML mapping; ``base`` paths resolve against
    ``root``."""
    errors: list[str] = []
    for key in raw:
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(str(key), KNOWN_KEYS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            errors.append(f"unknown key {key!r}{hint}; known: {list(KNOWN_KEYS)}")
    name = str(raw.get("name") or default_name)
    base = _load_base(raw.get("base"), Path(root), errors)
    common = _mapping(raw, "set", errors)
    grid = _mapping(raw, "grid", errors)
    points = raw.get("points") or []
    if not isinstance(points, list) or not all(isinstance(p, Mapping) for p in points):
        errors.append(f"points must be a list of mappings, got {points!r}")
        points = []
    seed_keys = _strings(raw, "seed_keys", errors)
    plot_x = _strings(raw, "plot_x", errors)
    jobs = raw.get("jobs", 1)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        errors.append(f"jobs must be an integer >= 1, got {jobs!r}")
    timeout = raw.get("timeout_s")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        errors.append(f"timeout_s must be a positive number or null, got {timeout!r}")
    command = _strings(raw, "command", errors)
    env = _mapping(raw, "env", errors)
    select = SelectSpec.parse(raw.get("select"), errors)
    resources = _mapping(raw, "resources", errors)
    for key, value in resources.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            errors.append(f"resources.{key} must be a number >= 0, got {value!r}")
    out = raw.get("out")
    if out is not None and not isinstance(out, str):
        errors.append(f"out must be a folder path (a string), got {out!r}")
        out = None
    keep = raw.get("keep")
    if keep is not None and not isinstance(keep, str):
        errors.append(f"keep must be a folder path (a string), got {keep!r}")
        keep = None
    spec = SweepSpec(
        name=name,
        base=base,
        out=Path(out or Path("runs") / "sweeps" / name),
        common=common,
        grid=grid,
        points=tuple(dict(p) for p in points),
        seed_keys=seed_keys if seed_keys is not None else DEFAULT_SEED_KEYS,
        plot_x=plot_x,
        jobs=jobs if not errors else 1,
        env={str(k): str(v) for k, v in env.items()},
        timeout_s=float(timeout) if isinstance(timeout, int | float) else None,
        command=command,
        select=select,
        resources=resources,
        source=source,
        keep=Path(keep) if keep else None,
    )
    if not errors:
        try:
            spec.expand()
            if select is not None:
                check_grid(spec.grid, spec.seed_keys)
        except ValueError as err:
            errors.append(str(err))
    if errors:
        raise ValueError("invalid sweep spec:\n  - " + "\n  - ".join(errors))
    return spec


def _load_base(value: Any, root: Path, errors: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        path = Path(value) if Path(value).is_absolute() else root / value
        if not path.is_file():
            errors.append(f"base config not found: {path}")
            return {}
        d = yaml.safe_load(path.read_text()) or {}
        if not isinstance(d, dict):
            errors.append(f"base config {path} is not a YAML mapping")
            return {}
        return d
    errors.append(f"base must be a config path or a mapping, got {value!r}")
    return {}


def _mapping(raw: Mapping[str, Any], key: str, errors: list[str]) -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        errors.append(f"{key} must be a mapping, got {value!r}")
        return {}
    return {str(k): v for k, v in value.items()}


def _strings(raw: Mapping[str, Any], key: str, errors: list[str]) -> tuple[str, ...] | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list):
        errors.append(f"{key} must be a list of strings, got {value!r}")
        return None
    return tuple(str(v) for v in value)
