"""Cross-entropy of the output head without the full (tokens × vocab) logits.

``fused_nll(h, w, targets, chunk=256)`` computes ``nll[n] = logsumexp(h[n] @ w) - (h[n] @
w)[targets[n]]`` over ``chunk`` rows at a time (a ``lax.scan``), so at most (chunk × V) fp32
logits exist at once. Its custom VJP is *fused*: while a chunk's logits are at hand, the forward
pass also computes that chunk's input gradient ``(softmax - onehot) @ w.T`` (chunk × d) and keeps
it; the backward pass only scales it by the incoming per-token cotangent. Total work is the same
two (tokens × d × V) products as the unchunked loss, memory is (tokens × d) instead of
(tokens × V). When ``w`` itself is differentiated (a trained head; detected with JAX's symbolic
zeros) the backward pass recomputes each chunk's logits for ``dw``.

Only tokens are chunked: one row of fp32 logits is ``4·V`` bytes (0.6 MB at Qwen2's 151,936),
so a chunk of 256 rows is ~150 MB, and splitting the vocabulary too (an online logsumexp) would
add a third product for the gradient without saving memory that matters at these sizes.

``chunked_logits_nll`` is the fallback for heads that are not one matrix (an adapted
``lm_head``): each chunk of ``logits_fn`` is rematerialised in the backward pass.

>>> import jax.numpy as jnp
>>> h, w = jnp.ones((5, 3)), jnp.zeros((3, 4))
>>> [round(float(x), 4) for x in fused_nll(h, w, jnp.array([0, 1, 2, 3, 0]), chunk=2)]
[1.3863, 1.3863, 1.3863, 1.3863, 1.3863]
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp


def fused_nll(
    h: jax.Array,
    w: jax.Array,
    targets: jax.Array,
    *,
    vocab_major: bool = False,
    chunk: int = 256,
) -> jax.Array:
    """Per-row NLL of ``logits = h @ w`` (``h @ w.T`` when ``vocab_major``), fp32.

    h: (N, d) in the compute dtype; w: (d, V) or (V, d) (cast to h's dtype once, before the
    chunk loop: converting it in every chunk repeats the work when XLA does not hoist it);
    targets: (N,) int. Returns (N,) float32. ``chunk``: rows per step (>= 1).
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return _fused(h, w, targets, bool(vocab_major), int(chunk))


def chunked_logits_nll(
    logits_fn: Callable[[jax.Array], jax.Array], h: jax.Array, targets: jax.Array, chunk: int
) -> jax.Array:
    """Per-row NLL (N,) fp32 of ``logits_fn(h[c])`` (rows -> (rows, V)) over chunks of
    ``chunk`` rows, each chunk rematerialised in the backward pass (any head, e.g. adapted)."""
    n = h.shape[0]
    hs, ts = _chunks(h, targets, chunk)

    @jax.checkpoint
    def body(hc: jax.Array, tc: jax.Array) -> jax.Array:
        return token_nll(logits_fn(hc), tc)

    _, nll = jax.lax.scan(lambda c, xs: (c, body(*xs)), None, (hs, ts))
    return nll.reshape(-1)[:n]


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Negative log-likelihood: logits (..., V), targets (...) -> (...) fp32."""
    logits = logits.astype(jnp.float32)
    picked = jnp.take_along_axis(logits, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return jax.nn.logsumexp(logits, axis=-1) - picked


def _chunks(h: jax.Array, targets: jax.Array, chunk: int) -> tuple[jax.Array, jax.Array]:
    """Pad to a multiple of ``chunk`` rows: (C, chunk, d), (C, chunk)."""
    n, d = h.shape
    c = max(1, min(chunk, n))
    pad = (-n) % c
    hp = jnp.pad(h, ((0, pad), (0, 0))) if pad else h
    tp = jnp.pad(targets.astype(jnp.int32), (0, pad)) if pad else targets.astype(jnp.int32)
    return hp.reshape(-1, c, d), tp.reshape(-1, c)


def _logits(hc: jax.Array, wc: jax.Array, vocab_major: bool) -> jax.Array:
    """(c, d) x head -> (c, V) fp32 logits (products accumulate in fp32); ``wc``: the head
    already in hc's dtype (converted once, outside the chunk loop)."""
    dims = ((1,), (1,)) if vocab_major else ((1,), (0,))
    return jax.lax.dot_general(hc, wc, (dims, ((), ())), preferred_element_type=jnp.float32)


def _softmax_minus_onehot(logits: jax.Array, tc: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(nll, dlogits)`` of one chunk: (c,), (c, V) = softmax(logits) - onehot(tc)."""
    lse = jax.nn.logsumexp(logits, axis=-1)
    picked = jnp.take_along_axis(logits, tc[:, None], axis=-1)[:, 0]
    g = jnp.exp(logits - lse[:, None])
    g = g.at[jnp.arange(tc.shape[0]), tc].add(-1.0)
    return lse - picked, g


def _backproject(g: jax.Array, wc: jax.Array, vocab_major: bool, dtype: Any) -> jax.Array:
    """dlogits (c, V) -> dh (c, d) = g @ w.T (or g @ w for a vocab-major head); ``wc``: the
    head already in ``dtype``."""
    dims = ((1,), (0,)) if vocab_major else ((1,), (1,))
    return jax.lax.dot_general(
        g.astype(dtype), wc, (dims, ((), ())), preferred_element_type=jnp.float32
    )


@partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _fused(h, w, targets, vocab_major, chunk):
    n = h.shape[0]
    hs, ts = _chunks(h, targets, chunk)
    wc = w.astype(h.dtype)

    def step(carry, xs):
        hc, tc = xs
        return carry, token_nll(_logits(hc, wc, vocab_major), tc)

    _, nll = jax.lax.scan(step, None, (hs, ts))
    return nll.reshape(-1)[:n]


def _fused_fwd(h, w, targets, vocab_major, chunk):
    need_dh, need_dw = h.perturbed, w.perturbed
    h, w, targets = h.value, w.value, targets.value
    n = h.shape[0]
    hs, ts = _chunks(h, targets, chunk)
    wc = w.astype(h.dtype)

    def step(carry, xs):
        hc, tc = xs
        nll, g = _softmax_minus_onehot(_logits(hc, wc, vocab_major), tc)
        dh = _backproject(g, wc, vocab_major, hc.dtype).astype(hc.dtype) if need_dh else None
        return carry, (nll, dh)

    _, (nll, dh) = jax.lax.scan(step, None, (hs, ts))
    dh = dh.reshape(-1, h.shape[1])[:n] if need_dh else None
    residuals = (dh, h if need_dw else None, w, targets if need_dw else None)
    return nll.reshape(-1)[:n], residuals


def _fused_bwd(vocab_major, chunk, residuals, ct):
    dh_unit, h, w, targets = residuals
    if isinstance(ct, jax.custom_derivatives.SymbolicZero):
        return None, None, None
    ct = ct.astype(jnp.float32)
    dh = None
    if dh_unit is not None:
        dh = (ct[:, None] * dh_unit.astype(jnp.float32)).astype(dh_unit.dtype)
    dw = None
    if h is not None:
        hs, ts = _chunks(h, targets, chunk)
        n_pad = hs.shape[0] * hs.shape[1] - ct.shape[0]
        cs = jnp.pad(ct, (0, n_pad)).reshape(ts.shape)
        wc = w.astype(h.dtype)

        def step(acc, xs):
            hc, tc, cc = xs
            _, g = _softmax_minus_onehot(_logits(hc, wc, vocab_major), tc)
            g = g * cc[:, None]
            hf = hc.astype(jnp.float32)
            upd = g.T @ hf if vocab_major else hf.T @ g
            return acc + upd, None

        dw, _ = jax.lax.scan(step, jnp.zeros(w.shape, jnp.float32), (hs, ts, cs))
        dw = dw.astype(w.dtype)
    return dh, dw, None


_fused.defvjp(_fused_fwd, _fused_bwd, symbolic_zeros=True)
