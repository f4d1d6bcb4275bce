"""Random-weight models built tensor by tensor, never whole in float32.

``random_llama(cfg, param_dtype=jnp.bfloat16)`` creates the model skeleton with
``nnx.eval_shape`` (nothing allocated) and then fills one parameter at a time in its storage
dtype (normal(0, ``std``) for matrices, ones for norm weights, zeros for biases), each placed
with the sharding ``shardings(path, abstract_variable)`` returns (None: default device). Peak
host memory is the model in ``param_dtype`` plus the random-number temporaries of one tensor:
about 9 bytes per element of the largest (measured: 3.9 GiB for Qwen2-1.5B's untied head,
151,936 x 1,536, created last, on top of the 3.3 GiB bf16 model). Used by benchmarks and memory
tests of billion-parameter architectures where no checkpoint is available offline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from qtn.models.config import LlamaConfig
from qtn.models.llama import LlamaForCausalLM

ShardingFn = Callable[[tuple, Any], Any]


def abstract_llama(
    cfg: LlamaConfig,
    *,
    dtype: Any = jnp.float32,
    param_dtype: Any = None,
    remat: str = "none",
) -> LlamaForCausalLM:
    """The model with every parameter a ``ShapeDtypeStruct`` (nothing allocated)."""
    return nnx.eval_shape(
        lambda: LlamaForCausalLM(
            cfg, dtype=dtype, param_dtype=param_dtype, remat=remat, rngs=nnx.Rngs(0)
        )
    )


def random_llama(
    cfg: LlamaConfig,
    *,
    dtype: Any = jnp.float32,
    param_dtype: Any = None,
    remat: str = "none",
    seed: int = 0,
    std: float = 0.02,
    shardings: ShardingFn | None = None,
) -> LlamaForCausalLM:
    """A :class:`LlamaForCausalLM` with random weights created one tensor at a time.

    Args:
        cfg: the architecture (e.g. ``LlamaConfig.from_dict(config_json)``).
        dtype: compute dtype; ``param_dtype``: storage dtype of the weights (default dtype).
        shardings: ``(path tuple, abstract variable) -> jax.sharding.Sharding | None``.
    """
    skeleton = abstract_llama(cfg, dtype=dtype, param_dtype=param_dtype, remat=remat)
    graphdef, state = nnx.split(skeleton)
    key = jax.random.key(seed)
    flat = []
    makers: dict = {}  # one jitted init per output sharding
    for i, (path, var) in enumerate(nnx.to_flat_state(state)):
        spec = var.get_value()
        sharding = shardings(path, var) if shardings is not None else None
        if sharding not in makers:
            makers[sharding] = jax.jit(_init, static_argnums=(1, 2, 3, 4), out_shardings=sharding)
        value = makers[sharding](
            jax.random.fold_in(key, i), tuple(spec.shape), spec.dtype, _kind(path), std
        )
        # one init in flight (dispatch is asynchronous): its temporaries are never added to
        # those of the next
        flat.append((path, var.replace(value.block_until_ready())))
    return nnx.merge(graphdef, nnx.from_flat_state(flat))


def _kind(path: tuple) -> str:
    name = str(path[-1])
    parent = str(path[-2]) if len(path) > 1 else ""
    if name == "weight" and parent.endswith("norm"):
        return "ones"
    if name == "bias":
        return "zeros"
    return "normal"


def _init(key: jax.Array, shape: tuple, dtype: Any, kind: str, std: float) -> jax.Array:
    if kind == "ones":
        return jnp.ones(shape, dtype)
    if kind == "zeros":
        return jnp.zeros(shape, dtype)
    return (std * jax.random.normal(key, shape, dtype)).astype(dtype)
