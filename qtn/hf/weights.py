"""Load HF-named tensors into an ``nnx.eval_shape`` skeleton of a qtn model (bonsai-style).

Tensors are converted one at a time: each checkpoint tensor (typically a memory map, see
:func:`qtn.hf.safetensors_io.iter_tensors`) is cast to the parameter's storage dtype on the
host, transformed (transposed), and placed on the device(s) with its target sharding before
the next one is read. A bfloat16 model from a float32 checkpoint therefore never holds more
than one float32 tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qtn.hf.keymap import is_ignored, map_key, path_to_str
from qtn.hf.safetensors_io import CheckpointError
from qtn.models.config import LlamaConfig
from qtn.models.llama import LlamaForCausalLM


def abstract_model(
    cfg: LlamaConfig, dtype: jnp.dtype = jnp.float32, param_dtype: jnp.dtype | None = None
) -> LlamaForCausalLM:
    """The model skeleton: every parameter a ``ShapeDtypeStruct`` (nothing is initialised)."""
    return nnx.eval_shape(
        lambda: LlamaForCausalLM(cfg, dtype=dtype, param_dtype=param_dtype, rngs=nnx.Rngs(0))
    )


def load_llama(
    cfg: LlamaConfig,
    tensors: Iterable[tuple[str, np.ndarray]],
    *,
    dtype: jnp.dtype = jnp.float32,
    param_dtype: jnp.dtype | None = None,
    source: str = "checkpoint",
    shardings: Callable[[tuple, Any], Any] | None = None,
) -> LlamaForCausalLM:
    """Build a :class:`LlamaForCausalLM` from ``(hf_key, array)`` pairs.

    Every parameter must be provided exactly once with the right shape; all problems (missing,
    unexpected, mis-shaped, duplicated keys) are collected and raised together.
    ``shardings(path, abstract_variable)`` gives each parameter's target
    ``jax.sharding.Sharding`` (None: the default device); with several processes each one
    places only its own shards.

    Raises:
        CheckpointError: listing every bad key, prefixed by ``source``.
    """
    skeleton = abstract_model(cfg, dtype, param_dtype)
    graphdef, state = nnx.split(skeleton)
    slots = {path_to_str(p): (p, v) for p, v in nnx.to_flat_state(state)}
    values: dict[str, np.ndarray] = {}
    unexpected, mis_shaped, duplicated = [], [], []
    mis_targets: set[str] = set()
    for key, array in tensors:
        if is_ignored(key, tied=cfg.tie_word_embeddings):
            continue
        mapped = map_key(key)
        if mapped is None or mapped[0] not in slots:
            unexpected.append(key)
            continue
        target, fn = mapped
        if target in values:
            duplicated.append(key)
            continue
        path, want = slots[target]
        after = fn(np.empty(array.shape, np.bool_)).shape  # the transform's shape, no data
        if tuple(after) != tuple(want.shape):
            mis_targets.add(target)
            mis_shaped.append(
                f"{key} -> {target}: checkpoint {tuple(array.shape)} (after transform "
                f"{tuple(after)}), model expects {tuple(want.shape)}"
            )
            continue
        value = fn(np.array(array, dtype=want.dtype))  # one tensor, already in storage dtype
        sharding = shardings(path, want) if shardings is not None else None
        values[target] = place(value, sharding)
    missing = sorted(set(slots) - set(values) - mis_targets)
    problems = []
    if missing:
        problems.append(f"missing parameters (qtn paths): {missing}")
    if unexpected:
        problems.append(f"unexpected checkpoint keys: {sorted(unexpected)}")
    if mis_shaped:
        problems.append("shape mismatches:\n  " + "\n  ".join(mis_shaped))
    if duplicated:
        problems.append(f"duplicated keys: {sorted(duplicated)}")
    if problems:
        raise CheckpointError(f"cannot load {source}:\n" + "\n".join(problems))
    flat = [(p, v.replace(values[name])) for name, (p, v) in slots.items()]
    return nnx.merge(graphdef, nnx.from_flat_state(flat))


def place(value: np.ndarray, sharding: Any = None) -> jax.Array:
    """Host array -> device array with ``sharding`` (each process builds only the shards its
    devices hold; None: the default device)."""
    if sharding is None:
        return jnp.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def model_tensors(model: LlamaForCausalLM) -> dict[str, np.ndarray]:
    """The inverse map: HF-named numpy tensors (torch layout) of a qtn model's parameters."""
    out: dict[str, np.ndarray] = {}
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        name = path_to_str(path)
        arr = np.asarray(var[...])
        if name.endswith(".kernel"):
            arr = np.ascontiguousarray(arr.T)
            name = name[: -len(".kernel")] + ".weight"
        elif name == "embed_tokens.embedding":
            name = "embed_tokens.weight"
        out[name if name.startswith("lm_head") else "model." + name] = arr
    return out
