"""ContinuationScorer: candidates scored from one prompt prefill equal full forwards."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qtn.models import LlamaConfig, LlamaForCausalLM
from qtn.models.generate import left_pad
from qtn.models.scoring import ContinuationScorer

CFG = dict(
    model_type="llama", vocab_size=50, hidden_size=32, intermediate_size=48,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, eos_token_id=3,
)


@pytest.fixture(scope="module")
def model():
    return LlamaForCausalLM(LlamaConfig.from_dict(CFG), rngs=nnx.Rngs(0))


def full_nll(model, prompt, cand):
    """Summed NLL of ``cand`` after ``prompt`` by one plain forward of their concatenation."""
    ids = jnp.asarray([list(prompt) + list(cand)], jnp.int32)
    logp = jax.nn.log_softmax(model(ids)[0].astype(jnp.float32), axis=-1)
    start = len(prompt) - 1
    return -sum(float(logp[start + t, c]) for t, c in enumerate(cand))


def test_candidates_from_one_prefill_equal_full_forwards(model):
    prompts = [[5, 17, 23], [7, 8, 9, 10, 11, 12, 13], [42]]
    cands = [[[4, 9, 1], [30]], [[6], [8, 8]], [[2, 44, 6], []]]  # (B, C) of token lists
    ids, mask = left_pad(prompts, pad_token_id=0, multiple=8)
    L = 3
    cand_ids = np.zeros((3, 2, L), np.int32)
    cand_mask = np.zeros((3, 2, L), np.int32)
    for b, row in enumerate(cands):
        for c, toks in enumerate(row):
            cand_ids[b, c, : len(toks)] = toks
            cand_mask[b, c, : len(toks)] = 1
    scorer = ContinuationScorer(model)
    nll = scorer(ids, mask, cand_ids, cand_mask)
    assert nll.shape == (3, 2) and nll[2, 1] == 0.0  # an empty candidate scores 0
    for b in range(3):
        for c in range(2):
            if cands[b][c]:
                assert nll[b, c] == pytest.approx(full_nll(model, prompts[b], cands[b][c]),
                                                  abs=1e-4)
    scorer(ids, mask, cand_ids[:, ::-1].copy(), cand_mask[:, ::-1].copy())
    assert scorer.compiled_shapes == [((3, 8), (3, 2, 3))]  # one program per shape
