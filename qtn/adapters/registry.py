"""Adapter methods: an explicit, read-only name -> :class:`AdapterMethod` map.

Adding a method is one line in :data:`METHODS`, e.g.
``"mpo": AdapterMethod("mpo", MPOConfig, make_mpo),``. Nothing registers itself on import.

- The config is a frozen dataclass: its fields are the method's options (the keys of a YAML
  ``adapter:`` block and of ``inject(**cfg)``), each with a default; ``__post_init__`` raises
  ValueError on a bad value (``bond < 1``...), which config validation reports before anything
  is loaded. A ``patterns: ClassVar[Mapping[str, str]]`` maps per-module override keywords to
  the field they override (``{"bond_pattern": "bond", "depth_pattern": "depth"}``).
- The factory ``(base: Linear, cfg, rngs: nnx.Rngs) -> AdapterLayer`` builds one layer. The
  layer keeps ``base``, puts trainable tensors in ``CoreParam`` / ``AngleParam`` (the optimizer
  gives angles their own learning rate), keeps frozen tensors as ``nnx.Param`` (never
  trained, never copied by the jitted step) or recomputes them from ``base`` at construction
  (adapter files store only AdapterParams), and implements ``delta_weight()`` for merge (or
  ``merge_error()`` when its update is nonlinear in x).
- An optional ``unknown_option_hint(unknown) -> str`` classmethod of the config adds to the
  unknown-option error (``qtha`` uses it to point old weight-space options to ``circuit_mpo``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from flax import nnx

from qtn.adapters.circuit_mpo import CircuitMPOConfig, make_circuit_mpo
from qtn.adapters.lora import LoRAConfig, make_lora
from qtn.adapters.mpo import MPOConfig, make_mpo
from qtn.adapters.qtha import QTHAConfig, make_qtha
from qtn.nn.adapter import AdapterLayer
from qtn.nn.linear import Linear

Factory = Callable[[Linear, Any, nnx.Rngs], AdapterLayer]


@dataclass(frozen=True)
class AdapterMethod:
    """A registered adapter method: ``name``, ``config_cls`` (frozen dataclass), ``factory``."""

    name: str
    config_cls: type
    factory: Factory

    def option_names(self) -> tuple[str, ...]:
        """The config fields, i.e. the options ``inject`` / a YAML ``adapter:`` block accept."""
        return tuple(f.name for f in dataclasses.fields(self.config_cls))

    def pattern_names(self) -> dict[str, str]:
        """Per-module override keywords -> the config field each one overrides."""
        return dict(getattr(self.config_cls, "patterns", {}))

    def make_config(self, **options: Any) -> Any:
        """Build the config, rejecting unknown option names with the accepted list."""
        unknown = sorted(set(options) - set(self.option_names()))
        if unknown:
            hint = getattr(self.config_cls, "unknown_option_hint", None)
            raise ValueError(
                f"adapter method {self.name!r} got unknown option(s) {unknown}; "
                f"accepted: {list(self.option_names())}{hint(unknown) if hint else ''}"
            )
        return self.config_cls(**options)


METHODS: Mapping[str, AdapterMethod] = MappingProxyType(
    {
        "lora": AdapterMethod("lora", LoRAConfig, make_lora),
        "mpo": AdapterMethod("mpo", MPOConfig, make_mpo),
        "circuit_mpo": AdapterMethod("circuit_mpo", CircuitMPOConfig, make_circuit_mpo),
        "qtha": AdapterMethod("qtha", QTHAConfig, make_qtha),
    }
)


def get_method(name: str) -> AdapterMethod:
    """The registered method ``name`` (ValueError listing the available ones otherwise)."""
    if name not in METHODS:
        raise ValueError(f"unknown adapter method {name!r}; available: {sorted(METHODS)}")
    return METHODS[name]
