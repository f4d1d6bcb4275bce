"""Token losses, optionally computed only where they count.

Full path: ``logits = model(...)`` (B, T, V), NLL at every position, masked by ``loss_mask``.
Selected path (models with ``hidden_states`` + ``logits``, e.g. qtn's Llama): the final hidden
states are gathered at the ``loss_mask`` positions first, so ``lm_head`` and the softmax run on
K rows instead of B·T (instruction SFT trains on a few completion tokens per row). K is the
number of loss tokens rounded up to a power of two (>= 16, <= B·T) so batches share compiled
shapes; padding entries have weight 0. Both paths give the same loss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

Batch = Mapping[str, Any]
Forward = Callable[[nnx.Module, Batch], jax.Array]

SELECT_KEYS = ("loss_index", "loss_target", "loss_weight", "loss_row")
MIN_SELECTED = 16


def default_forward(model: nnx.Module, batch: Batch) -> jax.Array:
    """``model(input_ids, attention_mask[, positions=, segment_ids=]) -> logits (B, T, V)``;
    ``positions`` / ``segment_ids`` are passed when the step feeds them."""
    return model(batch["input_ids"], batch["attention_mask"], **_extra(batch))


def supports_selection(model: nnx.Module) -> bool:
    """Whether ``model`` exposes ``hidden_states(...) -> (B, T, d)`` and ``logits(h)``."""
    return callable(getattr(model, "hidden_states", None)) and callable(
        getattr(model, "logits", None)
    )


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Negative log-likelihood: logits (..., V), targets (...) -> (...) fp32."""
    logits = logits.astype(jnp.float32)
    picked = jnp.take_along_axis(logits, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return jax.nn.logsumexp(logits, axis=-1) - picked


def n_selected(n_tokens: int, total: int) -> int:
    """K for ``n_tokens`` loss tokens out of ``total`` positions: a power of two >= 16."""
    k = MIN_SELECTED
    while k < n_tokens:
        k *= 2
    return min(k, total)


def select_loss_positions(batch: Batch) -> dict[str, np.ndarray]:
    """Host-side gather plan: ``loss_index`` (K,) flat positions ``b·T + t`` of the loss
    tokens, ``loss_target`` (K,) their targets, ``loss_weight`` (K,) 1/0, ``loss_row`` (K,) b."""
    mask = np.asarray(batch["loss_mask"])
    B, T = mask.shape
    flat = np.flatnonzero(mask.reshape(-1) > 0)
    k = n_selected(len(flat), B * T)
    out = {key: np.zeros((k,), np.int32) for key in SELECT_KEYS}
    out["loss_index"][: len(flat)] = flat
    out["loss_target"][: len(flat)] = np.asarray(batch["targets"]).reshape(-1)[flat]
    out["loss_weight"][: len(flat)] = mask.reshape(-1)[flat]
    out["loss_row"][: len(flat)] = flat // T
    return out


def position_nll(
    model: nnx.Module, batch: Batch, forward: Forward = default_forward
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(nll, weight, row)``, each (K,) on the selected path or (B·T,) on the full path."""
    if "loss_index" in batch:
        h = model.hidden_states(batch["input_ids"], batch["attention_mask"], **_extra(batch))
        B, T, d = h.shape
        rows = jnp.take(h.reshape(B * T, d), batch["loss_index"], axis=0)
        nll = token_nll(model.logits(rows[None])[0], batch["loss_target"])
        return nll, batch["loss_weight"].astype(jnp.float32), batch["loss_row"]
    logits = forward(model, batch)
    B, T = batch["loss_mask"].shape
    nll = token_nll(logits, batch["targets"]).reshape(B * T)
    row = jnp.repeat(jnp.arange(B, dtype=jnp.int32), T)
    return nll, batch["loss_mask"].reshape(B * T).astype(jnp.float32), row


def mean_loss(
    model: nnx.Module, batch: Batch, forward: Forward = default_forward
) -> tuple[jax.Array, jax.Array]:
    """``(mean NLL over loss tokens, number of loss tokens)`` (no token -> loss 0)."""
    nll, weight, _ = position_nll(model, batch, forward)
    n = jnp.sum(weight)
    return jnp.sum(nll * weight) / jnp.maximum(n, 1.0), n


def row_losses(
    model: nnx.Module, batch: Batch, forward: Forward = default_forward
) -> tuple[jax.Array, jax.Array]:
    """Per-row summed NLL and loss-token count: (B,), (B,)."""
    nll, weight, row = position_nll(model, batch, forward)
    B = batch["input_ids"].shape[0]
    return (
        jax.ops.segment_sum(nll * weight, row, num_segments=B),
        jax.ops.segment_sum(weight, row, num_segments=B),
    )


def _extra(batch: Batch) -> dict[str, Any]:
    return {k: batch[k] for k in ("positions", "segment_ids") if k in batch}
