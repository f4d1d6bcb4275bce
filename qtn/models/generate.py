"""Autoregressive generation with a KV cache: greedy or temperature / top-p sampling.

The whole loop (prefill + ``lax.while_loop`` of decode steps) is one jitted function per
(model structure, padded prompt length, max_new_tokens, sampling on/off). Prompts of different
lengths are left-padded; each row keeps its own RoPE positions; a row stops at a stop token
(its later tokens are padding) and the loop ends when every row has stopped.

:func:`generate` takes token lists (pads them itself); :class:`BatchGenerator` takes ready
left-padded ``(B, P)`` batches (e.g. ``qtn.data`` prompt batches, one length per bucket) and
keeps one ahead-of-time compiled program per shape, so an evaluation compiles each bucket once,
before it starts (:meth:`BatchGenerator.compile`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qtn.models.llama import LlamaForCausalLM, default_positions


class GenerationResult(NamedTuple):
    """tokens: (B, max_new_tokens) int32 new tokens (``pad_token_id`` after a row stopped; the
    stop token itself is kept); lengths: (B,) number of generated tokens incl. the stop token."""

    tokens: np.ndarray
    lengths: np.ndarray

    def as_lists(self) -> list[list[int]]:
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths, strict=True)]


def left_pad(
    prompts: Sequence[Sequence[int]], pad_token_id: int, multiple: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Left-pad token lists to a common length rounded up to ``multiple`` (fewer recompiles).

    Returns ids (B, P) int32 and mask (B, P) int32 (1 on prompt tokens).
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    longest = max(len(p) for p in prompts)
    P = -(-longest // multiple) * multiple
    ids = np.full((len(prompts), P), pad_token_id, np.int32)
    mask = np.zeros((len(prompts), P), np.int32)
    for b, p in enumerate(prompts):
        ids[b, P - len(p):] = p
        mask[b, P - len(p):] = 1
    return ids, mask


def sample_logits(
    logits: jax.Array, key: jax.Array, temperature: jax.Array, top_p: jax.Array
) -> jax.Array:
    """Sample one token per row from logits (B, V) with temperature and nucleus (top-p)
    filtering: the smallest set of tokens whose probability reaches ``top_p`` is kept.
    Returns (B,) int32."""
    scaled = logits.astype(jnp.float32) / jnp.maximum(temperature, 1e-6)
    order = jnp.argsort(-scaled, axis=-1)
    sorted_logits = jnp.take_along_axis(scaled, order, axis=-1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # mass strictly above each token
    sorted_logits = jnp.where(before < top_p, sorted_logits, -jnp.inf)
    choice = jax.random.categorical(key, sorted_logits, axis=-1)
    return jnp.take_along_axis(order, choice[:, None], axis=-1)[:, 0].astype(jnp.int32)


@partial(jax.jit, static_argnames=("graphdef", "max_new_tokens", "sample"))
def _generate_jit(
    graphdef: Any,
    state: Any,
    ids: jax.Array,
    mask: jax.Array,
    stop_ids: jax.Array,
    key: jax.Array,
    temperature: jax.Array,
    top_p: jax.Array,
    pad_token_id: jax.Array,
    *,
    max_new_tokens: int,
    sample: bool,
) -> tuple[jax.Array, jax.Array]:
    model: LlamaForCausalLM = nnx.merge(graphdef, state)
    B, P = ids.shape
    valid = mask.astype(bool)
    cache = model.init_cache(B, P + max_new_tokens)
    logits, cache = model.decode(ids, default_positions(valid), valid, cache, last_only=True)
    next_pos = jnp.sum(mask, axis=1).astype(jnp.int32)  # (B,)

    def pick(logits: jax.Array, step_key: jax.Array) -> jax.Array:
        if sample:
            return sample_logits(logits, step_key, temperature, top_p)
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)

    def cond(carry):
        step, _, done, *_ = carry
        return (step < max_new_tokens) & ~jnp.all(done)

    def body(carry):
        step, out, done, logits, cache, key = carry
        key, sub = jax.random.split(key)
        tok = jnp.where(done, pad_token_id, pick(logits[:, -1], sub))
        out = out.at[:, step].set(tok)
        lengths_inc = ~done
        done = done | jnp.any(tok[:, None] == stop_ids[None, :], axis=1)
        logits, cache = model.decode(
            tok[:, None], (next_pos + step)[:, None], lengths_inc[:, None], cache
        )
        return step + 1, out, done, logits, cache, key

    out = jnp.full((B, max_new_tokens), pad_token_id, jnp.int32)
    done = jnp.zeros((B,), bool)
    carry = (jnp.zeros((), jnp.int32), out, done, logits, cache, key)
    _, out, done, *_ = jax.lax.while_loop(cond, body, carry)
    return out, done


class BatchGenerator:
    """Greedy decoding of left-padded batches ``ids, mask: (B, P)`` -> :class:`GenerationResult`.

    One compiled program per ``(B, P)`` (:meth:`compile` builds it ahead of time; a call with a
    new shape compiles it then). Every call reads the model's current weights, so the same
    generator serves an evaluation after more training. ``stop_token_ids``: a row stops after
    emitting one of them (kept in its tokens); ``pad_token_id`` fills the rest.
    """

    def __init__(
        self,
        model: LlamaForCausalLM,
        *,
        max_new_tokens: int,
        stop_token_ids: Sequence[int],
        pad_token_id: int,
    ):
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        self.model, self.max_new_tokens = model, max_new_tokens
        self.stops = list(stop_token_ids) or [-1]
        self.pad_token_id = int(pad_token_id)
        self.graphdef, _ = nnx.split(eval_view(model))
        self._executables: dict[tuple[int, int], Any] = {}

    def _args(self, ids: Any, mask: Any) -> tuple:
        _, state = nnx.split(eval_view(self.model))
        return (
            self.graphdef, state, jnp.asarray(ids, jnp.int32), jnp.asarray(mask, jnp.int32),
            jnp.asarray(self.stops, jnp.int32), jax.random.key(0), jnp.float32(0.0),
            jnp.float32(1.0), jnp.int32(self.pad_token_id),
        )

    @property
    def compiled_shapes(self) -> list[tuple[int, int]]:
        """The (B, P) shapes compiled so far."""
        return sorted(self._executables)

    def lower(self, shape: tuple[int, int]) -> Any:
        """The traced (not yet compiled) program for batches of ``shape`` = (B, P)."""
        zeros = np.zeros(tuple(map(int, shape)), np.int32)
        return _generate_jit.lower(
            *self._args(zeros, zeros), max_new_tokens=self.max_new_tokens, sample=False
        )

    def install(self, shape: tuple[int, int], compiled: Any) -> None:
        """Use ``compiled`` (from :meth:`lower`) for batches of ``shape``."""
        self._executables[(int(shape[0]), int(shape[1]))] = compiled

    def compile(self, shape: tuple[int, int]) -> Any:
        """The compiled program for batches of ``shape`` = (B, P) (built once)."""
        key = (int(shape[0]), int(shape[1]))
        if key not in self._executables:
            self.install(key, self.lower(key).compile())
        return self._executables[key]

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> GenerationResult:
        """ids, mask: (B, P) left-padded prompts (mask 1 on prompt tokens)."""
        exe = self.compile(np.shape(ids))
        out, _ = exe(*self._args(ids, mask)[1:])
        return _result(np.asarray(out), self.stops, self.max_new_tokens)


def eval_view(model: nnx.Module) -> nnx.Module:
    """The model with dropout off; a fresh view per call reads the current weights."""
    return nnx.view(model, deterministic=True, raise_if_not_found=False)


def _result(tokens: np.ndarray, stops: Sequence[int], max_new_tokens: int) -> GenerationResult:
    is_stop = np.isin(tokens, stops)
    lengths = np.where(is_stop.any(axis=1), is_stop.argmax(axis=1) + 1, max_new_tokens)
    return GenerationResult(tokens, lengths.astype(np.int32))


def generate(
    model: LlamaForCausalLM,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int = 20,
    stop_token_ids: Sequence[int] | int | None = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    pad_token_id: int = 0,
) -> GenerationResult:
    """Generate up to ``max_new_tokens`` tokens after each prompt (token id lists).

    ``temperature == 0`` is greedy; otherwise sample from ``softmax(logits / temperature)``
    restricted to the top-p nucleus. A row stops after emitting any of ``stop_token_ids``
    (default: the config's ``eos_token_id``).
    """
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be >= 1")
    if stop_token_ids is None:
        stop_token_ids = model.config.eos_token_id
    stops = [stop_token_ids] if isinstance(stop_token_ids, int) else list(stop_token_ids)
    stops = stops or [-1]
    ids, mask = left_pad(prompts, pad_token_id)
    graphdef, state = nnx.split(model)
    out, _ = _generate_jit(
        graphdef,
        state,
        jnp.asarray(ids),
        jnp.asarray(mask),
        jnp.asarray(stops, jnp.int32),
        jax.random.key(seed),
        jnp.float32(temperature),
        jnp.float32(top_p),
        jnp.int32(pad_token_id),
        max_new_tokens=max_new_tokens,
        sample=temperature > 0,
    )
    return _result(np.asarray(out), stops, max_new_tokens)


def generate_text(
    model: LlamaForCausalLM,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    chat: bool = False,
    **kwargs: Any,
) -> list[str]:
    """Tokenize ``prompts`` (through the chat template when ``chat``), :func:`generate`, and
    decode the new tokens (special tokens skipped). ``kwargs`` go to :func:`generate`."""
    if chat:
        ids = [
            list(tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], add_generation_prompt=True, tokenize=True,
                return_dict=False,
            ))
            for p in prompts
        ]
    else:
        ids = [tokenizer.encode(p) for p in prompts]
    if "stop_token_ids" not in kwargs and tokenizer.eos_token_id is not None:
        eos = set(model.config.eos_token_id) | {tokenizer.eos_token_id}
        kwargs["stop_token_ids"] = sorted(eos)
    if "pad_token_id" not in kwargs:
        pad = tokenizer.pad_token_id
        kwargs["pad_token_id"] = pad if pad is not None else 0
    result = generate(model, ids, **kwargs)
    return [tokenizer.decode(t, skip_special_tokens=True) for t in result.as_lists()]
