"""LoRA, the reference low-rank adapter: ``W_eff = W0 + (alpha / r) · A @ B``, ``B = 0`` at init.

Shapes follow qtn's ``Linear`` (kernel ``(in, out)``): ``A: (in, r)``, ``B: (r, out)``. PEFT
stores the transposes (``lora_A.weight: (r, in)``, ``lora_B.weight: (out, r)``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from qtn.nn.adapter import AdapterLayer
from qtn.nn.linear import Linear
from qtn.nn.variables import CoreParam


class LoRALinear(AdapterLayer):
    """``y = base(x) + (alpha / r) · dropout(x) @ A @ B``.

    x: (..., in_features) -> y: (..., out_features). ``A`` is drawn like PEFT's default
    (Kaiming-uniform with a=sqrt(5): U(-1/sqrt(in), 1/sqrt(in))), ``B`` starts at zero, so the
    layer equals ``base`` at initialisation.
    """

    def __init__(
        self,
        base: Linear,
        *,
        r: int,
        alpha: float,
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        if r < 1:
            raise ValueError(f"LoRA rank r must be >= 1, got {r}")
        self.base = base
        self.r = int(r)
        self.alpha = float(alpha)
        self.scale = self.alpha / self.r
        # factors stay at least fp32 (Adam on bf16 factors loses small updates); compute runs
        # in the base layer's dtype
        dtype = jnp.promote_types(base.kernel[...].dtype, jnp.float32)
        bound = 1.0 / math.sqrt(base.in_features)
        self.lora_a = CoreParam(
            jax.random.uniform(rngs.params(), (base.in_features, r), dtype, -bound, bound)
        )
        self.lora_b = CoreParam(jnp.zeros((r, base.out_features), dtype))
        self.dropout = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.base(x)
        h = self.dropout(x) if self.dropout is not None else x
        dt = self.base.dtype
        h = jnp.matmul(h.astype(dt), self.lora_a[...].astype(dt))
        h = jnp.matmul(h, self.lora_b[...].astype(dt))
        return y + (self.scale * h).astype(y.dtype)

    def delta_weight(self) -> jax.Array:
        """``(alpha / r) · A @ B``: (in_features, out_features)."""
        return self.scale * (self.lora_a[...] @ self.lora_b[...])
