"""What to inject where: :class:`AdapterSpec` (method, targets, options, per-module overrides)
and the module-path matching rules (PEFT's).

- ``target_modules`` as a string: a regex that must match the whole dotted module path
  (``r"layers\\.[0-3]\\.self_attn\\.(q|v)_proj"``); as a list: names matching the path exactly or
  as a dotted suffix (``["q_proj", "v_proj"]``, ``["layers.0.mlp.up_proj"]``).
- pattern maps (``rank_pattern``, ``bond_pattern``, ``depth_pattern``...): ``{key: value}``,
  ``key`` matches a path when ``(.*\\.)?key`` matches the whole path (suffix or regex); the first
  matching key in insertion order wins.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qtn.adapters.registry import AdapterMethod, get_method

Targets = str | tuple[str, ...]


def path_str(path: Sequence[Any]) -> str:
    """``("layers", 0, "self_attn", "q_proj")`` -> ``"layers.0.self_attn.q_proj"``."""
    return ".".join(str(p) for p in path)


def matches_target(path: str, target_modules: Targets) -> bool:
    """Whether the dotted module ``path`` is selected by ``target_modules`` (see module doc)."""
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, path) is not None
    return any(path == t or path.endswith("." + t) for t in target_modules)


def pattern_value(path: str, pattern: Mapping[str, Any]) -> tuple[bool, Any]:
    """``(True, value)`` of the first key of ``pattern`` matching ``path``, else
    ``(False, None)``."""
    for key, value in pattern.items():
        if re.fullmatch(rf"(.*\.)?{key}", path) is not None:
            return True, value
    return False, None


@dataclass(frozen=True)
class AdapterSpec:
    """A complete adapter request, serialisable to the flat dict a YAML ``adapter:`` block and
    ``adapter_config.json`` hold: ``{"method": "lora", "target_modules": [...], "r": 8,
    "rank_pattern": {"q_proj": 4}}``.

    Attributes:
        method: registered method name.
        target_modules: regex string or tuple of names / dotted suffixes.
        options: method config fields (defaults of the method's config fill the rest).
        patterns: ``{pattern keyword: {module key: value}}``, e.g. ``{"rank_pattern": {...}}``.
    """

    method: str
    target_modules: Targets
    options: Mapping[str, Any] = field(default_factory=dict)
    patterns: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def adapter_method(self) -> AdapterMethod:
        return get_method(self.method)

    def validate(self) -> None:
        """Raise ValueError on an unknown method / option / pattern keyword or a bad value (also
        the values patterns put in), without touching any model."""
        m = self.adapter_method
        if isinstance(self.target_modules, str):
            try:
                re.compile(self.target_modules)
            except re.error as err:
                raise ValueError(f"target_modules regex {self.target_modules!r}: {err}") from None
        elif not self.target_modules or not all(isinstance(t, str) for t in self.target_modules):
            raise ValueError(
                f"target_modules must be a regex or a non-empty list of names, "
                f"got {self.target_modules!r}"
            )
        m.make_config(**self.options)
        allowed = m.pattern_names()
        for name, pattern in self.patterns.items():
            if name not in allowed:
                raise ValueError(
                    f"adapter method {self.method!r} got unknown override {name!r}; "
                    f"accepted: {sorted(allowed)}"
                )
            if not isinstance(pattern, Mapping):
                raise ValueError(f"{name} must be a mapping {{module: value}}, got {pattern!r}")
            for key, value in pattern.items():
                try:
                    re.compile(rf"(.*\.)?{key}")
                except re.error as err:
                    raise ValueError(f"{name} key {key!r}: {err}") from None
                m.make_config(**{**self.options, allowed[name]: value})

    def config_for(self, path: str) -> Any:
        """The method config for module ``path`` (options + the first matching overrides)."""
        m = self.adapter_method
        opts = dict(self.options)
        fields = m.pattern_names()
        for name, pattern in self.patterns.items():
            hit, value = pattern_value(path, pattern)
            if hit:
                opts[fields[name]] = value
        return m.make_config(**opts)

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON/YAML form (all config fields spelled out, patterns included)."""
        cfg = self.adapter_method.make_config(**self.options)
        targets = self.target_modules
        out: dict[str, Any] = {
            "method": self.method,
            "target_modules": targets if isinstance(targets, str) else list(targets),
        }
        out.update(dataclasses.asdict(cfg))
        out.update({k: dict(v) for k, v in self.patterns.items()})
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AdapterSpec:
        """Parse the flat form (inverse of :meth:`to_dict`) and validate it."""
        if "method" not in d:
            raise ValueError("adapter config needs a 'method' (e.g. lora)")
        if "target_modules" not in d:
            raise ValueError("adapter config needs 'target_modules' (regex or list of names)")
        m = get_method(str(d["method"]))
        pattern_names = m.pattern_names()
        targets = d["target_modules"]
        spec = cls(
            method=m.name,
            target_modules=targets if isinstance(targets, str) else tuple(targets),
            options={
                k: v
                for k, v in d.items()
                if k not in ("method", "target_modules") and k not in pattern_names
            },
            patterns={
                k: dict(v) if isinstance(v, Mapping) else v
                for k, v in d.items()
                if k in pattern_names
            },
        )
        spec.validate()
        # canonical form: every config field spelled out (defaults included)
        full = dataclasses.asdict(m.make_config(**spec.options))
        return dataclasses.replace(spec, options=full)
