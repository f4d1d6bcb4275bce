"""Load HF-named tensors into an ``nnx.eval_shape`` skeleton of a qtn model (bonsai-style)."""

from __future__ import annotations

from collections.abc import Iterable

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
) -> LlamaForCausalLM:
    """Build a :class:`LlamaForCausalLM` from ``(hf_key, array)`` pairs.

    Every parameter must be provided exactly once with the right shape; all problems (missing,
    unexpected, mis-shaped, duplicated keys) are collected and raised together.

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
        value = fn(array)
        want = slots[target][1]
        if tuple(value.shape) != tuple(want.shape):
            mis_targets.add(target)
            mis_shaped.append(
                f"{key} -> {target}: checkpoint {tuple(array.shape)} (after transform "
                f"{tuple(value.shape)}), model expects {tuple(want.shape)}"
            )
            continue
        values[target] = jnp.asarray(value, dtype=want.dtype)
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
