"""The ``lora`` method: config dataclass and factory (the reference baseline)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

from flax import nnx

from qtn.nn.linear import Linear
from qtn.nn.lora import LoRALinear


@dataclass(frozen=True)
class LoRAConfig:
    """LoRA hyper-parameters. ``rank_pattern`` / ``alpha_pattern`` override ``r`` / ``alpha``
    per module (see :func:`qtn.adapters.inject`)."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0

    # pattern keyword accepted by inject -> the field it overrides per module
    patterns: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"rank_pattern": "r", "alpha_pattern": "alpha"}
    )

    def __post_init__(self) -> None:
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            raise ValueError(f"lora: r must be an integer >= 1, got {self.r!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"lora: dropout must be in [0, 1), got {self.dropout!r}")

    def trainable_params(self, in_features: int, out_features: int) -> int:
        """Exact trainable count of one adapted (in, out) layer: ``r · (in + out)``."""
        return self.r * (in_features + out_features)


def make_lora(base: Linear, cfg: LoRAConfig, rngs: nnx.Rngs) -> LoRALinear:
    """Wrap ``base`` in a :class:`LoRALinear` configured by ``cfg``."""
    return LoRALinear(base, r=cfg.r, alpha=cfg.alpha, dropout=cfg.dropout, rngs=rngs)
