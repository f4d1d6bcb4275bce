"""Adapter methods: an explicit, read-only name -> :class:`AdapterMethod` map.

Adding a method is one line in :data:`METHODS`: a frozen config dataclass (its fields are the
method's options; a ``patterns`` ClassVar maps per-module override keywords such as
``bond_pattern`` to the field they override) and a factory ``(base: Linear, cfg, rngs) ->
AdapterLayer``. Nothing registers itself on import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from flax import nnx

from qtn.adapters.lora import LoRAConfig, make_lora
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
            raise ValueError(
                f"adapter method {self.name!r} got unknown option(s) {unknown}; "
                f"accepted: {list(self.option_names())}"
            )
        return self.config_cls(**options)


METHODS: Mapping[str, AdapterMethod] = MappingProxyType(
    {
        "lora": AdapterMethod("lora", LoRAConfig, make_lora),
    }
)


def get_method(name: str) -> AdapterMethod:
    """The registered method ``name`` (ValueError listing the available ones otherwise)."""
    if name not in METHODS:
        raise ValueError(f"unknown adapter method {name!r}; available: {sorted(METHODS)}")
    return METHODS[name]
