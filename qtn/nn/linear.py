"""The frozen dense projection every pretrained model uses; adapters wrap or replace it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class Linear(nnx.Module):
    """``y = x @ kernel + bias``.

    kernel: (in_features, out_features) (the transpose of torch's ``weight``); bias: (out,).
    x: (..., in_features) -> y: (..., out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        use_bias: bool = False,
        dtype: jnp.dtype = jnp.float32,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.in_features = in_features
        self.out_features = out_features
        self.dtype = dtype
        scale = 1.0 / jnp.sqrt(in_features)
        self.kernel = nnx.Param(
            jax.random.uniform(
                rngs.params(), (in_features, out_features), param_dtype, -scale, scale
            )
        )
        self.bias = nnx.Param(jnp.zeros((out_features,), param_dtype)) if use_bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jnp.matmul(x.astype(self.dtype), self.kernel[...].astype(self.dtype))
        if self.bias is not None:
            # explicit rank: the tests run with jax_numpy_rank_promotion='raise'
            y = y + self.bias[...].astype(self.dtype).reshape((1,) * (y.ndim - 1) + (-1,))
        return y
