"""Llama-family decoder (Llama 2/3, Mistral, Qwen2/3, SmolLM2) in Flax NNX.

Module names follow transformers (``layers.3.self_attn.q_proj``, ``layers.3.mlp.down_proj``),
without HF's ``model.`` prefix, so adapters find projections by their HF names. Every projection
is a :class:`qtn.nn.linear.Linear`; ``layers`` is an ``nnx.List`` so replacing
``model.layers[i].self_attn.q_proj`` by a wrapper is seen by ``nnx.state`` / ``nnx.jit``.

Shapes: B batch, T new tokens, S key/value length (T, or the cache length), V vocab,
H query heads, K key/value heads, D head_dim.

Scale options (see ``qtn.train``): ``dtype`` is the compute dtype and ``param_dtype`` the
storage dtype of the pretrained weights (e.g. float32 / bfloat16); every parameter carries
logical axis names (``axes`` metadata: ``embed``, ``mlp``, ``q_heads``, ``kv_heads``,
``vocab``, ``norm``, ``head_dim``) that :mod:`qtn.nn.sharding` maps to mesh axes;
``model.remat`` (``none`` | ``layer`` | ``attention_mlp``, see :data:`REMAT_MODES`) recomputes
each decoder layer's activations in the backward pass instead of storing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qtn.models.attention import (
    CAUSAL_BLOCK,
    attention_mask_matrix,
    cached_attention,
    grouped_attention,
)
from qtn.models.config import LlamaConfig, rope_inv_freq
from qtn.nn.linear import Linear

REMAT_MODES = ("none", "layer", "attention_mlp")
"""Activation rematerialisation of the decoder layers (``jax.checkpoint``, policy
``nothing_saveable``): ``none`` stores every intermediate for the backward pass; ``layer``
stores only each layer's input (B, T, d) and recomputes the layer in the backward pass;
``attention_mlp`` checkpoints the attention block and the MLP block separately (stores two
(B, T, d) tensors per layer; the backward pass then holds one block's intermediates at a time,
so the peak is lower than ``layer`` when one block dominates, at the same recompute cost)."""


class KVCache(NamedTuple):
    """Per-layer key/value buffers for incremental decoding, in the layouts attention reads:
    k: tuples of (B, K, D, S_max) arrays (keys transposed), v: tuples of (B, K, S_max, D)
    (one per layer), so a decode step multiplies them as they are instead of transposing the
    whole cache in every layer and step; ``valid``: (B, S_max) bool, True on slots holding a
    real token; ``index``: () int32, the next slot to write (shared by the batch: prompts are
    left-padded). A model with ``scan_layers`` holds k and v as one stacked array each,
    (L, B, K, D, S_max) and (L, B, K, S_max, D), and decodes with one ``lax.scan``.
    """

    k: tuple[jax.Array, ...] | jax.Array
    v: tuple[jax.Array, ...] | jax.Array
    valid: jax.Array
    index: jax.Array


class RMSNorm(nnx.Module):
    """``x / rms(x) * weight`` over the last axis, computed in fp32. x: (..., dim)."""

    def __init__(
        self, dim: int, eps: float, *, param_dtype: jnp.dtype = jnp.float32, axis: str = "norm"
    ):
        self.eps = eps
        self.weight = nnx.Param(jnp.ones((dim,), param_dtype), axes=(axis,))

    def __call__(self, x: jax.Array) -> jax.Array:
        xf = x.astype(jnp.float32)
        var = jnp.mean(jnp.square(xf), axis=-1, keepdims=True)
        y = xf * jax.lax.rsqrt(var + self.eps)
        w = self.weight[...].astype(jnp.float32).reshape((1,) * (x.ndim - 1) + (-1,))
        return (w * y).astype(x.dtype)


def rope_cos_sin(
    cfg: LlamaConfig, positions: jax.Array, dtype: jnp.dtype, n_positions: int | None = None
) -> tuple[jax.Array, jax.Array]:
    """cos, sin tables for ``positions`` (B, T): each (B, T, 1, D), rotate-half layout.

    With ``n_positions`` (a bound on every position: the row or cache length, since a token's
    position never exceeds its slot) the tables are gathered from constant (n_positions, D)
    tables computed on the host (positions beyond are clamped to the last row). This matters
    for speed on CPU: XLA fuses a computed cos / sin into every q and k consumer and
    recomputes two transcendentals per head and element in each layer (~10 % of a training
    step); a gather from a constant is done once and read.
    """
    inv = np.asarray(rope_inv_freq(cfg), np.float32)
    if n_positions is not None:
        freqs = np.arange(n_positions, dtype=np.float32)[:, None] * inv[None, :]  # fp32 as below
        emb = np.concatenate([freqs, freqs], axis=-1)
        idx = positions.astype(jnp.int32)[:, :, None]
        tables = (jnp.asarray(np.cos(emb), dtype), jnp.asarray(np.sin(emb), dtype))
        return tuple(jnp.take(t, idx, axis=0, mode="clip") for t in tables)  # type: ignore
    freqs = positions.astype(jnp.float32)[..., None] * jnp.asarray(inv)[None, None, :]
    emb = jnp.concatenate([freqs, freqs], axis=-1)[:, :, None, :]
    return jnp.cos(emb).astype(dtype), jnp.sin(emb).astype(dtype)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotate x: (B, T, heads, D) by the tables (B, T, 1, D)."""
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


class LlamaAttention(nnx.Module):
    """Multi-head attention with GQA, RoPE, optional q/k/v bias and q/k RMSNorm (Qwen3)."""

    def __init__(self, cfg: LlamaConfig, *, dtype: jnp.dtype, param_dtype: jnp.dtype,
                 rngs: nnx.Rngs):
        self.num_heads = cfg.num_attention_heads
        self.num_kv_heads = cfg.num_key_value_heads
        self.head_dim = cfg.head_dim
        d, hd = cfg.hidden_size, cfg.head_dim
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        q_axes, kv_axes = ("embed", "q_heads"), ("embed", "kv_heads")
        self.q_proj = Linear(d, self.num_heads * hd, use_bias=cfg.qkv_bias, axes=q_axes, **kw)
        self.k_proj = Linear(d, self.num_kv_heads * hd, use_bias=cfg.qkv_bias, axes=kv_axes, **kw)
        self.v_proj = Linear(d, self.num_kv_heads * hd, use_bias=cfg.qkv_bias, axes=kv_axes, **kw)
        self.o_proj = Linear(
            self.num_heads * hd, d, use_bias=cfg.o_bias, axes=("q_heads", "embed"), **kw
        )
        if cfg.qk_norm:
            kw_norm = dict(param_dtype=param_dtype, axis="head_dim")
            self.q_norm = RMSNorm(hd, cfg.rms_norm_eps, **kw_norm)
            self.k_norm = RMSNorm(hd, cfg.rms_norm_eps, **kw_norm)
        else:
            self.q_norm = self.k_norm = None

    def __call__(
        self,
        x: jax.Array,
        cos: jax.Array,
        sin: jax.Array,
        mask: jax.Array,
        cache_kv: tuple[jax.Array, jax.Array] | None = None,
        index: jax.Array | None = None,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array] | None]:
        """x: (B, T, d) -> (B, T, d); with a cache, writes k/v at ``index`` and returns it."""
        B, T, _ = x.shape
        q = self.q_proj(x).reshape(B, T, self.num_heads, self.head_dim)
        k = self.k_proj(x).reshape(B, T, self.num_kv_heads, self.head_dim)
        v = self.v_proj(x).reshape(B, T, self.num_kv_heads, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache_kv is None:
            # the no-cache mask is causal by slot (hidden_states): blocks skip future keys
            out = grouped_attention(q, k, v, mask, causal_block=CAUSAL_BLOCK)
            return self.o_proj(out), None
        ck, cv = cache_kv  # (B, K, D, S), (B, K, S, D): only the T new tokens are transposed
        zero = jnp.zeros((), jnp.int32)
        kt = k.transpose(0, 2, 3, 1).astype(ck.dtype)
        ck = jax.lax.dynamic_update_slice(ck, kt, (zero, zero, zero, index))
        vt = v.transpose(0, 2, 1, 3).astype(cv.dtype)
        cv = jax.lax.dynamic_update_slice(cv, vt, (zero, zero, index, zero))
        out = cached_attention(q, ck.astype(q.dtype), cv.astype(q.dtype), mask)
        return self.o_proj(out), (ck, cv)


class LlamaMLP(nnx.Module):
    """SwiGLU: ``down(silu(gate(x)) * up(x))``. x: (..., d) -> (..., d)."""

    def __init__(self, cfg: LlamaConfig, *, dtype: jnp.dtype, param_dtype: jnp.dtype,
                 rngs: nnx.Rngs):
        kw = dict(use_bias=cfg.mlp_bias, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        up_axes = ("embed", "mlp")
        self.gate_proj = Linear(cfg.hidden_size, cfg.intermediate_size, axes=up_axes, **kw)
        self.up_proj = Linear(cfg.hidden_size, cfg.intermediate_size, axes=up_axes, **kw)
        self.down_proj = Linear(
            cfg.intermediate_size, cfg.hidden_size, axes=("mlp", "embed"), **kw
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down_proj(jax.nn.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nnx.Module):
    """Pre-norm block: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``."""

    def __init__(self, cfg: LlamaConfig, *, dtype: jnp.dtype, param_dtype: jnp.dtype,
                 rngs: nnx.Rngs):
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, param_dtype=param_dtype)
        self.self_attn = LlamaAttention(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.post_attention_layernorm = RMSNorm(
            cfg.hidden_size, cfg.rms_norm_eps, param_dtype=param_dtype
        )
        self.mlp = LlamaMLP(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x, cos, sin, mask, cache_kv=None, index=None):
        """x: (B, T, d) -> ((B, T, d), updated (k, v) cache or None)."""
        h, new_cache = self.self_attn(self.input_layernorm(x), cos, sin, mask, cache_kv, index)
        x = x + h
        return self.mlp_block(x), new_cache

    def attention_block(self, x, cos, sin, mask):
        """``x + attn(norm(x))`` without a cache: (B, T, d) -> (B, T, d)."""
        return x + self.self_attn(self.input_layernorm(x), cos, sin, mask)[0]

    def mlp_block(self, x):
        """``x + mlp(norm(x))``: (B, T, d) -> (B, T, d)."""
        return x + self.mlp(self.post_attention_layernorm(x))


def _layer_forward(layer: LlamaDecoderLayer, x, cos, sin, mask):
    return layer(x, cos, sin, mask)[0]


def _attention_forward(layer: LlamaDecoderLayer, x, cos, sin, mask):
    return layer.attention_block(x, cos, sin, mask)


def _mlp_forward(layer: LlamaDecoderLayer, x):
    return layer.mlp_block(x)


def _stackable(layers) -> tuple | None:
    """``(graphdef, stacked state, restore)`` when every layer has the same structure (same
    adapters, shapes and static attributes) and no random-key stream (a sampling executor's
    keys must advance per layer), else None. 16-bit float leaves are stacked as their uint16
    bits (:func:`_stack`); ``restore(state)`` turns one scanned slice back into the layer's
    dtypes."""
    if len(layers) < 2:
        return None
    split = [nnx.split(layer) for layer in layers]
    graphdef = split[0][0]
    if any(g != graphdef for g, _ in split[1:]) or jax.tree.leaves(
        nnx.state(layers[0], nnx.RngState)
    ):
        return None
    try:
        stacked = jax.tree.map(lambda *leaves: _stack(leaves), *[s for _, s in split])
    except ValueError:  # same structure, different shapes
        return None
    dtypes = jax.tree.map(lambda leaf: leaf.dtype, split[0][1])

    def restore(state):
        return jax.tree.map(_from_bits, state, dtypes)

    return graphdef, stacked, restore


def _is_half(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.floating) and jnp.dtype(dtype).itemsize == 2


def _stack(leaves: Sequence[jax.Array]) -> jax.Array:
    """``jnp.stack(leaves)``, 16-bit floats as their uint16 bits: XLA:CPU has no bf16
    concatenate and builds a bf16 stack in fp32 and converts it back (a transient fp32 copy of
    every stacked weight: 4.3 GiB for the MLPs of a 28-layer Qwen2-1.5B); the bits stay uint16
    until a scanned slice is used (:func:`_from_bits`), so no second copy is made either."""
    if _is_half(leaves[0].dtype):
        return jnp.stack([jax.lax.bitcast_convert_type(leaf, jnp.uint16) for leaf in leaves])
    return jnp.stack(leaves)


def _from_bits(leaf: jax.Array, dtype) -> jax.Array:
    """A slice of :func:`_stack`'s output in its layer's ``dtype``."""
    return jax.lax.bitcast_convert_type(leaf, dtype) if _is_half(dtype) else leaf


def scan_layers(layers, x, cos, sin, mask, remat: str = "none") -> jax.Array | None:
    """:func:`run_layers` as one ``lax.scan`` over the layers' stacked state: the program
    holds one decoder layer, not ``len(layers)``, so compile time stops growing with the depth
    (the stacked frozen weights are one extra copy of the layers' weights per call). Returns
    None when the layers differ in structure (the caller loops instead)."""
    found = _stackable(layers)
    if found is None:
        return None
    graphdef, stacked, restore = found
    policy = jax.checkpoint_policies.nothing_saveable

    def step(x, state):
        layer = nnx.merge(graphdef, restore(state))
        if remat != "attention_mlp":
            return _layer_forward(layer, x, cos, sin, mask), None
        attn = jax.checkpoint(lambda x: _attention_forward(layer, x, cos, sin, mask),
                              policy=policy)
        return jax.checkpoint(lambda x: _mlp_forward(layer, x), policy=policy)(attn(x)), None

    if remat == "layer":
        step = jax.checkpoint(step, policy=policy)
    return jax.lax.scan(step, x, stacked)[0]


def run_layers(layers, x, cos, sin, mask, remat: str = "none", scan: bool = False) -> jax.Array:
    """Apply the decoder ``layers`` to x: (B, T, d) with the :data:`REMAT_MODES` ``remat``;
    ``scan``: as one ``lax.scan`` when the layers are alike (:func:`scan_layers`)."""
    if remat not in REMAT_MODES:
        raise ValueError(f"remat must be one of {REMAT_MODES}, got {remat!r}")
    if scan:
        out = scan_layers(layers, x, cos, sin, mask, remat)
        if out is not None:
            return out
    if remat == "none":
        for layer in layers:
            x = _layer_forward(layer, x, cos, sin, mask)
        return x
    policy = jax.checkpoint_policies.nothing_saveable
    if remat == "layer":
        fwd = nnx.remat(_layer_forward, policy=policy)
        for layer in layers:
            x = fwd(layer, x, cos, sin, mask)
        return x
    attn = nnx.remat(_attention_forward, policy=policy)
    mlp = nnx.remat(_mlp_forward, policy=policy)
    for layer in layers:
        x = mlp(layer, attn(layer, x, cos, sin, mask))
    return x


class LlamaForCausalLM(nnx.Module):
    """Decoder-only LM. ``model(input_ids, attention_mask) -> logits``.

    Attributes (HF names without ``model.``): ``embed_tokens`` (nnx.Embed), ``layers``
    (nnx.List of :class:`LlamaDecoderLayer`), ``norm``, ``lm_head`` (``Linear``, or None when
    the embeddings are tied).
    """

    def __init__(
        self,
        cfg: LlamaConfig,
        *,
        dtype: jnp.dtype = jnp.float32,
        param_dtype: jnp.dtype | None = None,
        remat: str = "none",
        rngs: nnx.Rngs,
    ):
        param_dtype = dtype if param_dtype is None else param_dtype
        if remat not in REMAT_MODES:
            raise ValueError(f"remat must be one of {REMAT_MODES}, got {remat!r}")
        self.config = cfg
        self.dtype = dtype
        self.remat = remat
        self.scan_layers = False  # run_layers(scan=...): one lax.scan over alike layers
        self.embed_tokens = nnx.Embed(
            cfg.vocab_size,
            cfg.hidden_size,
            dtype=dtype,
            param_dtype=param_dtype,
            embedding_metadata={"axes": ("vocab", "embed")},
            rngs=rngs,
        )
        self.layers = nnx.List(
            [
                LlamaDecoderLayer(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
                for _ in range(cfg.num_hidden_layers)
            ]
        )
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, param_dtype=param_dtype)
        self.lm_head = (
            None
            if cfg.tie_word_embeddings
            else Linear(cfg.hidden_size, cfg.vocab_size, dtype=dtype, param_dtype=param_dtype,
                        axes=("embed", "vocab"), rngs=rngs)
        )

    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        *,
        positions: jax.Array | None = None,
        segment_ids: jax.Array | None = None,
    ) -> jax.Array:
        """Full-sequence forward (training / scoring).

        input_ids: (B, T) int; attention_mask: (B, T), 1 = token, 0 = padding (left or right);
        positions: (B, T) RoPE position ids (default: running count of real tokens, so left
        padding does not shift positions); segment_ids: (B, T) packed-example ids (attention
        stays within a segment). Returns logits (B, T, V) in the compute dtype.
        """
        h = self.hidden_states(
            input_ids, attention_mask, positions=positions, segment_ids=segment_ids
        )
        return self.logits(h)

    def hidden_states(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        *,
        positions: jax.Array | None = None,
        segment_ids: jax.Array | None = None,
    ) -> jax.Array:
        """The final-norm hidden states (B, T, d) of :meth:`__call__` (before ``lm_head``), for
        callers that compute logits in chunks to save memory."""
        B, T = input_ids.shape
        valid = jnp.ones((B, T), bool) if attention_mask is None else attention_mask.astype(bool)
        if positions is None:
            positions = default_positions(valid)
        slots = jnp.broadcast_to(jnp.arange(T, dtype=jnp.int32)[None, :], (B, T))
        mask = attention_mask_matrix(
            slots, slots, valid, segment_ids, segment_ids, self.config.sliding_window
        )
        x = self.embed(input_ids)
        cos, sin = rope_cos_sin(self.config, positions, x.dtype, n_positions=T)
        x = run_layers(self.layers, x, cos, sin, mask, self.remat, scan=self.scan_layers)
        return self.norm(x)

    def embed(self, input_ids: jax.Array) -> jax.Array:
        """Token embeddings (B, T) -> (B, T, d) in the compute dtype: the rows are gathered in
        the storage dtype, then widened (``nnx.Embed`` widens the whole table first: a
        (V, d) fp32 copy, 0.87 GiB for Qwen2-1.5B's vocabulary, for a handful of rows)."""
        rows = jnp.take(self.embed_tokens.embedding[...], input_ids, axis=0)
        return rows.astype(self.dtype)

    def logits(self, h: jax.Array) -> jax.Array:
        """Final hidden states (B, T, d) -> logits (B, T, V)."""
        if self.lm_head is None:
            return self.embed_tokens.attend(h)
        return self.lm_head(h)

    def output_projection(self) -> tuple[jax.Array, bool] | None:
        """The output head as one matrix, for losses that chunk the vocabulary projection:
        ``(w, vocab_major)`` with ``logits = h @ w`` (w: (d, V), ``vocab_major`` False) or
        ``h @ w.T`` (w: (V, d) tied embeddings, True). None when ``lm_head`` is not a plain
        bias-free :class:`Linear` (e.g. adapted): use :meth:`logits` then."""
        if self.lm_head is None:
            return self.embed_tokens.embedding[...], True
        if type(self.lm_head) is Linear and self.lm_head.bias is None:
            return self.lm_head.kernel[...], False
        return None

    def init_cache(self, batch_size: int, max_len: int, dtype: jnp.dtype | None = None) -> KVCache:
        """An empty cache for ``batch_size`` rows of up to ``max_len`` tokens."""
        cfg = self.config
        dtype = self.dtype if dtype is None else dtype
        K, D, L = cfg.num_key_value_heads, cfg.head_dim, cfg.num_hidden_layers
        k_shape, v_shape = (batch_size, K, D, max_len), (batch_size, K, max_len, D)
        if self.scan_layers:  # one (L, ...) array per buffer, scanned with the layers
            return KVCache(
                k=jnp.zeros((L, *k_shape), dtype), v=jnp.zeros((L, *v_shape), dtype),
                valid=jnp.zeros((batch_size, max_len), bool), index=jnp.zeros((), jnp.int32),
            )
        return KVCache(
            k=tuple(jnp.zeros(k_shape, dtype) for _ in range(L)),
            v=tuple(jnp.zeros(v_shape, dtype) for _ in range(L)),
            valid=jnp.zeros((batch_size, max_len), bool),
            index=jnp.zeros((), jnp.int32),
        )

    def decode(
        self,
        input_ids: jax.Array,
        positions: jax.Array,
        token_mask: jax.Array,
        cache: KVCache,
        *,
        last_only: bool = False,
    ) -> tuple[jax.Array, KVCache]:
        """Incremental forward: write T new tokens into the cache at ``cache.index``.

        input_ids, positions: (B, T) int; token_mask: (B, T) bool (False on left padding).
        Returns logits (B, T, V) ((B, 1, V) with ``last_only``) and the updated cache (index
        advanced by T).
        """
        B, T = input_ids.shape
        S = cache.valid.shape[1]
        zero = jnp.zeros((), jnp.int32)
        valid = jax.lax.dynamic_update_slice(
            cache.valid, token_mask.astype(bool), (zero, cache.index)
        )
        q_slot = jnp.broadcast_to((cache.index + jnp.arange(T, dtype=jnp.int32))[None, :], (B, T))
        kv_slot = jnp.broadcast_to(jnp.arange(S, dtype=jnp.int32)[None, :], (B, S))
        mask = attention_mask_matrix(
            q_slot, kv_slot, valid, sliding_window=self.config.sliding_window
        )
        x = self.embed(input_ids)
        cos, sin = rope_cos_sin(self.config, positions, x.dtype, n_positions=S)
        x, ks, vs = self._decode_layers(x, cos, sin, mask, cache)
        if last_only:
            x = x[:, -1:]
        logits = self.logits(self.norm(x))
        return logits, KVCache(ks, vs, valid, cache.index + T)

    def _decode_layers(self, x, cos, sin, mask, cache: KVCache) -> tuple:
        """The decoder layers over ``cache``: ``(x, k, v)``, k / v in the cache's form (one
        ``lax.scan`` when the cache is stacked and the layers are alike, else a loop)."""
        stacked_cache = not isinstance(cache.k, tuple)
        found = _stackable(self.layers) if stacked_cache else None
        if found is not None:
            graphdef, stacked, restore = found

            def step(x, inputs):
                state, k, v = inputs
                layer = nnx.merge(graphdef, restore(state))
                return layer(x, cos, sin, mask, (k, v), cache.index)

            x, (ks, vs) = jax.lax.scan(step, x, (stacked, cache.k, cache.v))
            return x, ks, vs
        ks, vs = [], []
        for i, layer in enumerate(self.layers):
            x, (k, v) = layer(x, cos, sin, mask, (cache.k[i], cache.v[i]), cache.index)
            ks.append(k)
            vs.append(v)
        if stacked_cache:
            return x, jnp.stack(ks), jnp.stack(vs)
        return x, tuple(ks), tuple(vs)


def default_positions(valid: jax.Array) -> jax.Array:
    """Position ids (B, T) int32 from a (B, T) token mask: 0, 1, ... over real tokens only."""
    v = valid.astype(jnp.int32)
    return jnp.maximum(jnp.cumsum(v, axis=1) - 1, 0)


def lm_loss(
    logits: jax.Array, targets: jax.Array, loss_mask: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """Mean next-token cross-entropy over masked positions (no shifting: ``targets[:, t]`` is
    the token position ``t`` predicts, as in :mod:`qtn.data.batching`).

    logits: (B, T, V); targets: (B, T) int; loss_mask: (B, T) (1 = counts; default all).
    Returns ``(loss, n_tokens)``: fp32 scalars; loss is 0 when no token counts.
    """
    logits = logits.astype(jnp.float32)
    lse = jax.nn.logsumexp(logits, axis=-1)
    picked = jnp.take_along_axis(logits, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
    nll = lse - picked
    mask = jnp.ones_like(nll) if loss_mask is None else loss_mask.astype(jnp.float32)
    n = jnp.sum(mask)
    return jnp.sum(nll * mask) / jnp.maximum(n, 1.0), n


def shift_targets(input_ids: jax.Array, attention_mask: jax.Array | None = None):
    """Targets and loss mask (both (B, T)) for plain language modelling of ``input_ids``:
    ``targets[:, t] = input_ids[:, t+1]``; the last column and padding never count."""
    B, T = input_ids.shape
    targets = jnp.concatenate([input_ids[:, 1:], jnp.zeros((B, 1), input_ids.dtype)], axis=1)
    m = jnp.ones((B, T), jnp.int32) if attention_mask is None else attention_mask.astype(jnp.int32)
    next_valid = jnp.concatenate([m[:, 1:], jnp.zeros((B, 1), jnp.int32)], axis=1)
    return targets, m * next_valid
