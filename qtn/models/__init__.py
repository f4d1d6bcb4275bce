"""qtn.models: Flax NNX decoders configured from a checkpoint's ``config.json``.

Interface used by training / adapters / eval::

    from qtn.models import LlamaConfig, LlamaForCausalLM, lm_loss, generate

    logits = model(input_ids, attention_mask)            # (B, T) int32, (B, T) 1/0 -> (B, T, V)
    logits = model(ids, mask, positions=pos, segment_ids=seg)  # packed rows (qtn.data batches)
    loss, n_tokens = lm_loss(logits, targets, loss_mask)  # targets already aligned, no shift
    targets, loss_mask = shift_targets(input_ids, attention_mask)  # plain LM on raw ids
    h = model.hidden_states(ids, mask); logits = model.logits(h)  # chunk the lm_head yourself
    out = generate(model, prompt_id_lists, max_new_tokens=20, temperature=0.0)  # KV cache
    model.remat = "layer"                                  # recompute layers in the backward
    w, vocab_major = model.output_projection()             # the head as one matrix (chunked CE)
    model = random_llama(cfg, param_dtype=jnp.bfloat16)    # random weights, tensor by tensor
    texts = generate_text(model, tokenizer, ["The capital of France is"], chat=False)
    gen = BatchGenerator(model, max_new_tokens=48, stop_token_ids=[eos], pad_token_id=pad)
    out = gen(ids, mask)                                # left-padded (B, P): one program/shape
    nll = ContinuationScorer(model)(ids, mask, cand_ids, cand_mask)  # (B, C): prompt read once

Module tree (HF names without ``model.``): ``embed_tokens``, ``layers`` (an ``nnx.List``),
``layers[i].self_attn.{q,k,v,o}_proj``, ``layers[i].mlp.{gate,up,down}_proj`` (all
:class:`qtn.nn.linear.Linear`), ``norm``, ``lm_head`` (None when tied). Replacing
``model.layers[i].self_attn.q_proj = Wrapper(base=old, ...)`` is supported: the wrapper only
needs ``__call__(x: (..., in)) -> (..., out)``.
"""

from qtn.models.config import LlamaConfig, UnsupportedArchitectureError
from qtn.models.generate import BatchGenerator, GenerationResult, generate, generate_text
from qtn.models.llama import (
    REMAT_MODES,
    KVCache,
    LlamaForCausalLM,
    default_positions,
    lm_loss,
    shift_targets,
)
from qtn.models.random_init import abstract_llama, random_llama
from qtn.models.scoring import ContinuationScorer

__all__ = [
    "REMAT_MODES",
    "BatchGenerator",
    "ContinuationScorer",
    "GenerationResult",
    "KVCache",
    "LlamaConfig",
    "LlamaForCausalLM",
    "UnsupportedArchitectureError",
    "abstract_llama",
    "default_positions",
    "generate",
    "generate_text",
    "lm_loss",
    "random_llama",
    "shift_targets",
]
