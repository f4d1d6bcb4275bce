"""Attention math of the Llama-family decoder, free of modules: the boolean mask of which key a
query may see (causality by slot, padding, packed segments, sliding window), grouped-query
softmax attention in a head-major layout (with optional causal query blocks), and the same over
a KV cache in its layouts.

Shapes: B batch, T new tokens, S key/value length (T, or the cache length), H query heads,
K key/value heads, G = H / K query heads per KV head, D head_dim.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_NEG = -1e30  # masked score; finite so an all-masked (padding) query row stays NaN-free


def attention_mask_matrix(
    q_slot: jax.Array,
    kv_slot: jax.Array,
    kv_valid: jax.Array,
    q_segment: jax.Array | None = None,
    kv_segment: jax.Array | None = None,
    sliding_window: int | None = None,
) -> jax.Array:
    """Boolean (B, 1, 1, T, S): query may attend key. Causality is by slot index (row order),
    not by position id, so packed rows and left padding both work.

    q_slot: (B, T), kv_slot: (B, S) int; kv_valid: (B, S) bool; segments: (B, T) / (B, S).
    """
    allowed = (kv_slot[:, None, :] <= q_slot[:, :, None]) & kv_valid[:, None, :]
    if sliding_window is not None:
        allowed &= kv_slot[:, None, :] > q_slot[:, :, None] - sliding_window
    if q_segment is not None and kv_segment is not None:
        allowed &= q_segment[:, :, None] == kv_segment[:, None, :]
    return allowed[:, None, None, :, :]


CAUSAL_BLOCK = 128
"""Query rows per block in :func:`grouped_attention`'s causal blocking (the model's no-cache
path): a block of queries attends only the keys up to its own last slot."""


def grouped_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array, *,
    causal_block: int | None = None,
) -> jax.Array:
    """Softmax attention with grouped KV heads.

    q: (B, T, H, D); k, v: (B, S, K, D); mask: (B, 1, 1, T, S) bool -> (B, T, H*D).

    Head-major layout: q, k, v are transposed once to (B, K, G, T, D) / (B, K, S, D), so both
    products (and their four backward products) are batched over (B, K) alone with the G query
    heads sharing a KV head stacked into one (G*T)-row operand, in the layout the CPU's matmul
    kernels take without further copies (``benchmarks/bench_attention.py`` times it against
    the einsums on the (B, T, K, G, D) layout it replaced).

    ``causal_block``: the caller guarantees ``mask`` hides every key after its query (slot
    order; :func:`attention_mask_matrix` with ``q_slot == kv_slot``, S == T). Queries are then
    taken in blocks of that many rows and each block skips the keys after its last row: at
    T = 4 blocks, 10 of the 16 score blocks are computed. Same result for every query that sees
    at least one key (a query the mask hides from every key, i.e. padding, averages its block's
    keys instead of all of them; no visible query reads it). None (or T <= the block, or
    S != T) computes every score.
    """
    B, T, H, D = q.shape
    S, K = k.shape[1], k.shape[2]
    G = H // K
    qh = q.reshape(B, T, K, G, D).transpose(0, 2, 3, 1, 4) * jnp.asarray(D**-0.5, q.dtype)
    kh, vh = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)
    if causal_block is None or S != T or T <= causal_block:
        out = _attend(qh, kh, vh, mask)
    else:
        blocks = []
        for start in range(0, T, causal_block):
            end = min(start + causal_block, T)
            blocks.append(_attend(qh[:, :, :, start:end], kh[:, :, :end], vh[:, :, :end],
                                  mask[..., start:end, :end]))
        out = jnp.concatenate(blocks, axis=3)
    return out.transpose(0, 3, 1, 2, 4).reshape(B, T, H * D)


def _attend(qh: jax.Array, kh: jax.Array, vh: jax.Array, mask: jax.Array) -> jax.Array:
    """qh: (B, K, G, t, D) (scaled); kh, vh: (B, K, s, D); mask: (B, 1, 1, t, s) ->
    (B, K, G, t, D)."""
    B, K, G, t, D = qh.shape
    s = kh.shape[2]
    scores = jnp.einsum("bkmd,bksd->bkms", qh.reshape(B, K, G * t, D), kh,
                        preferred_element_type=jnp.float32)
    rows = mask.shape[0]
    grouped_mask = jnp.broadcast_to(mask, (rows, 1, G, t, s)).reshape(rows, 1, G * t, s)
    scores = jnp.where(grouped_mask, scores, _NEG)
    probs = jax.nn.softmax(scores, axis=-1).astype(vh.dtype)
    return jnp.einsum("bkms,bksd->bkmd", probs, vh).reshape(B, K, G, t, D)


def cached_attention(q: jax.Array, kt: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    """:func:`grouped_attention` over a KV cache in its layouts (see
    :class:`qtn.models.llama.KVCache`).

    q: (B, T, H, D); kt: (B, K, D, S); v: (B, K, S, D); mask: (B, 1, 1, T, S) -> (B, T, H*D).
    """
    B, T, H, D = q.shape
    K = kt.shape[1]
    qg = q.reshape(B, T, K, H // K, D).transpose(0, 2, 3, 1, 4) * jnp.asarray(D**-0.5, q.dtype)
    scores = jnp.einsum("bkgtd,bkds->bkgts", qg, kt, preferred_element_type=jnp.float32)
    scores = jnp.where(mask, scores, _NEG)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    out = jnp.einsum("bkgts,bksd->bkgtd", probs, v)
    return out.transpose(0, 3, 1, 2, 4).reshape(B, T, H * D)
