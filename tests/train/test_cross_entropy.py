"""The chunked output head: the fused chunked cross-entropy gives the full computation's loss
and gradients (w.r.t. hidden states and, when trained, the head) to 1e-5, for every chunk size
and both head layouts; the training loss path (selected and all positions, a plain and an
adapted head) matches the full-logits path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qtn.adapters import inject
from qtn.models import LlamaConfig
from qtn.models.random_init import random_llama
from qtn.nn.variables import AdapterParam
from qtn.train.cross_entropy import chunked_logits_nll, fused_nll, token_nll
from qtn.train.loss import mean_loss, row_losses, select_loss_positions


def _problem(n=37, d=16, v=50):
    k = jax.random.split(jax.random.key(0), 4)
    h = jax.random.normal(k[0], (n, d))
    w = 0.3 * jax.random.normal(k[1], (d, v))
    t = jax.random.randint(k[2], (n,), 0, v)
    weight = jax.random.uniform(k[3], (n,))
    return h, w, t, weight


@pytest.mark.parametrize("chunk", [1, 8, 37, 64])
@pytest.mark.parametrize("vocab_major", [False, True])
def test_fused_matches_full_loss_and_grads(chunk, vocab_major):
    h, w, t, weight = _problem()

    def full(h, w):
        return jnp.sum(token_nll(h @ w, t) * weight)

    def fused(h, w):
        head = w.T if vocab_major else w
        return jnp.sum(fused_nll(h, head, t, vocab_major=vocab_major, chunk=chunk) * weight)

    (lf, gf), (lc, gc) = [jax.jit(jax.value_and_grad(f, argnums=(0, 1)))(h, w)
                          for f in (full, fused)]
    assert abs(float(lf - lc)) <= 1e-5 * abs(float(lf))
    for a, b in zip(gf, gc, strict=True):
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-5
    only_h = jax.grad(fused)(h, w)  # the head frozen: no dw work, same dh
    assert float(jnp.max(jnp.abs(only_h - gf[0]))) <= 1e-5


def test_rematerialised_chunks_match_full():
    h, w, t, weight = _problem()
    full = jax.grad(lambda h: jnp.sum(token_nll(h @ w, t) * weight))(h)
    chunked = jax.grad(lambda h: jnp.sum(chunked_logits_nll(lambda x: x @ w, h, t, 8) * weight))(h)
    assert float(jnp.max(jnp.abs(full - chunked))) <= 1e-5
    with pytest.raises(ValueError, match="chunk must be >= 1, got 0"):
        fused_nll(h, w, t, chunk=0)


CFG = LlamaConfig(
    vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=1,
    num_attention_heads=4, num_key_value_heads=2, head_dim=8, tie_word_embeddings=False,
)


def _batch():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 96, (3, 10)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[0, 6:] = 0
    loss_mask = mask.copy()
    loss_mask[1, :4] = 0
    return {"input_ids": ids, "attention_mask": mask, "targets": np.roll(ids, -1, 1),
            "loss_mask": loss_mask}


@pytest.mark.parametrize(
    "tied, targets, select",
    [(False, ["q_proj"], False), (True, ["q_proj"], True), (False, ["q_proj", "lm_head"], False)],
)
def test_training_loss_chunked_equals_full(tied, targets, select):
    import dataclasses

    model = random_llama(dataclasses.replace(CFG, tie_word_embeddings=tied), std=0.2)
    inject(model, "lora", targets, r=2)
    for i, (_, v) in enumerate(nnx.to_flat_state(nnx.state(model, AdapterParam))):
        v[...] = 0.1 * jax.random.normal(jax.random.key(i), v[...].shape)
    assert (model.output_projection() is None) == ("lm_head" in targets)
    batch = _batch()
    if select:
        batch = {**batch, **select_loss_positions(batch)}
    batch = {k: jnp.asarray(v) for k, v in batch.items()}

    def run(chunk):
        f = nnx.value_and_grad(lambda m: mean_loss(m, batch, chunk=chunk),
                               argnums=nnx.DiffState(0, AdapterParam), has_aux=True)
        (loss, n), g = nnx.jit(f)(model)
        rows = nnx.jit(lambda m: row_losses(m, batch, chunk=chunk))(model)
        return float(loss), float(n), jax.tree.leaves(g), rows

    full, chunked = run(0), run(4)
    assert full[1] == chunked[1] == float(np.sum(_batch()["loss_mask"]))
    assert abs(full[0] - chunked[0]) <= 1e-5
    for a, b in zip(full[2], chunked[2], strict=True):
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-5
    np.testing.assert_allclose(np.asarray(full[3][0]), np.asarray(chunked[3][0]), atol=1e-4)
