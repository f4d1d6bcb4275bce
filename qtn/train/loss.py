"""Token losses, optionally computed only where they count.

Full path: ``logits = model(...)`` (B, T, V), NLL at every position, masked by ``loss_mask``.
Selected path (models with ``hidden_states`` + ``logits``, e.g. qtn's Llama): the final hidden
states are gathered at the ``loss_mask`` positions first, so ``lm_head`` and the softmax run on
K rows instead of B·T (instruction SFT trains on a few completion tokens per row). K is the
number of loss tokens rounded up to a power of two (>= 16, <= B·T) so batches share compiled
shapes; padding entries have weight 0. Both paths give the same loss.

Chunked head (``chunk > 0``, the default of ``train.loss_chunk``): on models with
``hidden_states``, the vocabulary projection and cross-entropy run ``chunk`` rows at a time
(:mod:`qtn.train.cross_entropy`: fused gradient when the head is one matrix, rematerialised
chunks otherwise), on the selected rows or on all B·T rows, so (tokens × vocab) logits are
never materialised. ``chunk = 0`` computes the full logits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qtn.train.cross_entropy import chunked_logits_nll, fused_nll, token_nll

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


def head_nll(model: nnx.Module, h: jax.Array, targets: jax.Array, chunk: int = 0) -> jax.Array:
    """NLL (N,) fp32 of the model's output head on final hidden states h: (N, d).

    ``chunk = 0``: full logits ``model.logits``; otherwise ``chunk`` rows at a time, fused
    when ``model.output_projection()`` gives the head as one matrix."""
    if chunk <= 0:
        return token_nll(model.logits(h[None])[0], targets)
    head = getattr(model, "output_projection", lambda: None)()
    if head is not None:
        w, vocab_major = head
        return fused_nll(h, w, targets, vocab_major=vocab_major, chunk=chunk)
    return chunked_logits_nll(lambda rows: model.logits(rows[None])[0], h, targets, chunk)


def n_selected(n_tokens: int, total: int, at_least: int = MIN_SELECTED) -> int:
    """K for ``n_tokens`` loss tokens out of ``total`` positions: a power of two >= 16 (and
    >= ``at_least``)."""
    k = MIN_SELECTED
    while k < max(n_tokens, at_least):
        k *= 2
    return min(k, total)


def select_loss_positions(batch: Batch, at_least: int = 0) -> dict[str, np.ndarray]:
    """Host-side gather plan: ``loss_index`` (K,) flat positions ``b·T + t`` of the loss
    tokens, ``loss_target`` (K,) their targets, ``loss_weight`` (K,) 1/0, ``loss_row`` (K,) b.
    ``at_least``: a minimum K (a run pins one K for all its batches: one compiled shape)."""
    mask = np.asarray(batch["loss_mask"])
    B, T = mask.shape
    flat = np.flatnonzero(mask.reshape(-1) > 0)
    k = n_selected(len(flat), B * T, at_least)
    out = {key: np.zeros((k,), np.int32) for key in SELECT_KEYS}
    out["loss_index"][: len(flat)] = flat
    out["loss_target"][: len(flat)] = np.asarray(batch["targets"]).reshape(-1)[flat]
    out["loss_weight"][: len(flat)] = mask.reshape(-1)[flat]
    out["loss_row"][: len(flat)] = flat // T
    return out


def position_nll(
    model: nnx.Module, batch: Batch, forward: Forward = default_forward, chunk: int = 0
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(nll, weight, row)``, each (K,) on the selected path or (B·T,) on the full path;
    ``chunk`` > 0 chunks the head (see the module docstring)."""
    B, T = batch["input_ids"].shape
    if "loss_index" in batch:
        h = model.hidden_states(batch["input_ids"], batch["attention_mask"], **_extra(batch))
        rows = jnp.take(h.reshape(B * T, h.shape[-1]), batch["loss_index"], axis=0)
        nll = head_nll(model, rows, batch["loss_target"], chunk)
        return nll, batch["loss_weight"].astype(jnp.float32), batch["loss_row"]
    if chunk > 0 and forward is default_forward and supports_selection(model):
        h = model.hidden_states(batch["input_ids"], batch["attention_mask"], **_extra(batch))
        targets = batch["targets"].reshape(B * T)
        nll = head_nll(model, h.reshape(B * T, h.shape[-1]), targets, chunk)
    else:
        nll = token_nll(forward(model, batch), batch["targets"]).reshape(B * T)
    row = jnp.repeat(jnp.arange(B, dtype=jnp.int32), T)
    return nll, batch["loss_mask"].reshape(B * T).astype(jnp.float32), row


def mean_loss(
    model: nnx.Module, batch: Batch, forward: Forward = default_forward, chunk: int = 0
) -> tuple[jax.Array, jax.Array]:
    """``(mean NLL over loss tokens, number of loss tokens)`` (no token -> loss 0)."""
    nll, weight, _ = position_nll(model, batch, forward, chunk)
    n = jnp.sum(weight)
    return jnp.sum(nll * weight) / jnp.maximum(n, 1.0), n


def row_losses(
    model: nnx.Module, batch: Batch, forward: Forward = default_forward, chunk: int = 0
) -> tuple[jax.Array, jax.Array]:
    """Per-row summed NLL and loss-token count: (B,), (B,)."""
    nll, weight, row = position_nll(model, batch, forward, chunk)
    B = batch["input_ids"].shape[0]
    return (
        jax.ops.segment_sum(nll * weight, row, num_segments=B),
        jax.ops.segment_sum(weight, row, num_segments=B),
    )


def _extra(batch: Batch) -> dict[str, Any]:
    return {k: batch[k] for k in ("positions", "segment_ids") if k in batch}
