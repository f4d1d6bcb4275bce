"""Log-likelihood of candidate continuations of prompts: the prompt runs once (prefill into a KV
cache) and every candidate is scored from that cache.

For instruction SFT evaluation the prompt is nearly all of the tokens, so scoring the gold
completion (eval loss) and every label choice (choice accuracy) in one program reads each prompt
once instead of once per candidate. Shapes: B rows, P prompt length (left-padded), C candidates
per row, L candidate length (right-padded).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qtn.models.generate import eval_view
from qtn.models.llama import LlamaForCausalLM, default_positions


@partial(jax.jit, static_argnames=("graphdef",))
def _score_jit(
    graphdef: Any,
    state: Any,
    prompt_ids: jax.Array,
    prompt_mask: jax.Array,
    cand_ids: jax.Array,
    cand_mask: jax.Array,
) -> jax.Array:
    """Summed NLL (B, C) of ``cand_ids`` (B, C, L) after the prompts (B, P)."""
    model: LlamaForCausalLM = nnx.merge(graphdef, state)
    B, C, L = cand_ids.shape
    valid = prompt_mask.astype(bool)
    cache = model.init_cache(B, prompt_ids.shape[1] + L)
    first, cache = model.decode(prompt_ids, default_positions(valid), valid, cache, last_only=True)
    start = jnp.sum(prompt_mask, axis=1).astype(jnp.int32)[:, None]  # (B, 1)
    positions = start + jnp.arange(L, dtype=jnp.int32)[None, :]
    out = []
    for c in range(C):  # each candidate from the same prompt cache
        ids, mask = cand_ids[:, c], cand_mask[:, c].astype(bool)
        if L > 1:
            later, _ = model.decode(ids[:, :-1], positions[:, :-1], mask[:, :-1], cache)
            logits = jnp.concatenate([first, later], axis=1)  # (B, L, V): logits[t] -> ids[t]
        else:
            logits = first
        logits = logits.astype(jnp.float32)
        picked = jnp.take_along_axis(logits, ids[..., None], axis=-1)[..., 0]
        nll = jax.nn.logsumexp(logits, axis=-1) - picked
        out.append(jnp.sum(jnp.where(mask, nll, 0.0), axis=1))
    return jnp.stack(out, axis=1)


class ContinuationScorer:
    """``scorer(prompt_ids, prompt_mask, cand_ids, cand_mask) -> nll (B, C)``: summed negative
    log-likelihood of each candidate continuation of each left-padded prompt row.

    prompt_ids, prompt_mask: (B, P) (mask 1 on prompt tokens, left padding); cand_ids,
    cand_mask: (B, C, L) (mask 1 on candidate tokens, right padding; a candidate of no tokens
    scores 0). One ahead-of-time compiled program per shape (:meth:`compile`); every call reads
    the model's current weights.
    """

    def __init__(self, model: LlamaForCausalLM):
        self.model = model
        self.graphdef, _ = nnx.split(eval_view(model))
        self._executables: dict[tuple, Any] = {}

    @property
    def compiled_shapes(self) -> list[tuple]:
        """The ((B, P), (B, C, L)) shapes compiled so far."""
        return sorted(self._executables)

    def lower(self, prompt_shape: tuple[int, int], cand_shape: tuple[int, int, int]) -> Any:
        """The traced (not yet compiled) program for these shapes."""
        _, state = nnx.split(eval_view(self.model))
        p, c = np.zeros(prompt_shape, np.int32), np.zeros(cand_shape, np.int32)
        return _score_jit.lower(self.graphdef, state, p, p, c, c)

    def install(self, prompt_shape: tuple, cand_shape: tuple, compiled: Any) -> None:
        """Use ``compiled`` (from :meth:`lower`) for these shapes."""
        self._executables[(tuple(map(int, prompt_shape)), tuple(map(int, cand_shape)))] = compiled

    def compile(self, prompt_shape: tuple[int, int], cand_shape: tuple[int, int, int]) -> Any:
        """The compiled program for these shapes (built once)."""
        key = (tuple(map(int, prompt_shape)), tuple(map(int, cand_shape)))
        if key not in self._executables:
            self.install(*key, self.lower(*key).compile())
        return self._executables[key]

    def __call__(
        self,
        prompt_ids: np.ndarray,
        prompt_mask: np.ndarray,
        cand_ids: np.ndarray,
        cand_mask: np.ndarray,
    ) -> np.ndarray:
        exe = self.compile(np.shape(prompt_ids), np.shape(cand_ids))
        _, state = nnx.split(eval_view(self.model))
        args = (prompt_ids, prompt_mask, cand_ids, cand_mask)
        nll = exe(state, *(jnp.asarray(a, jnp.int32) for a in args))
        return np.asarray(nll, np.float64)
