"""The frozen dense projection every pretrained model uses; adapters wrap or replace it.

``axes`` names the kernel's two dimensions with *logical* axis names (``("embed", "mlp")``);
:mod:`qtn.nn.sharding` maps them to mesh axes with one rules table (nothing here knows about
devices). The names are stored as the ``axes`` metadata of the ``kernel`` / ``bias`` Params.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class Linear(nnx.Module):
    """``y = x @ kernel + bias``.

    kernel: (in_features, out_features) (the transpose of torch's ``weight``); bias: (out,);
    ``axes``: logical names of (in, out), e.g. ``("embed", "mlp")`` (None: unnamed, replicated).
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
        axes: tuple[str | None, str | None] | None = None,
        rngs: nnx.Rngs,
    ):
        self.in_features = in_features
        self.out_features = out_features
        self.dtype = dtype
        scale = 1.0 / jnp.sqrt(in_features)
        meta = {} if axes is None else {"axes": tuple(axes)}
        self.kernel = nnx.Param(
            jax.random.uniform(
                rngs.params(), (in_features, out_features), param_dtype, -scale, scale
            ),
            **meta,
        )
        bias_meta = {} if axes is None else {"axes": (axes[1],)}
        self.bias = (
            nnx.Param(jnp.zeros((out_features,), param_dtype), **bias_meta) if use_bias else None
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jnp.matmul(x.astype(self.dtype), self.kernel[...].astype(self.dtype))
        if self.bias is not None:
            # explicit rank: the tests run with jax_numpy_rank_promotion='raise'
            y = y + self.bias[...].astype(self.dtype).reshape((1,) * (y.ndim - 1) + (-1,))
        return y
