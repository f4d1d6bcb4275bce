"""qtn.models: masks, loss, KV-cache generation, adapter-style module replacement (no torch)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qtn.models import LlamaConfig, LlamaForCausalLM, generate, lm_loss, shift_targets
from qtn.models.config import UnsupportedArchitectureError, rope_inv_freq
from qtn.models.generate import BatchGenerator, left_pad, sample_logits
from qtn.nn.linear import Linear

CFG = dict(
    model_type="llama", vocab_size=50, hidden_size=32, intermediate_size=48,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, eos_token_id=3,
)


@pytest.fixture(scope="module")
def model():
    return LlamaForCausalLM(LlamaConfig.from_dict(CFG), rngs=nnx.Rngs(0))


@nnx.jit
def forward(model, ids, mask=None, positions=None, segment_ids=None):
    return model(ids, mask, positions=positions, segment_ids=segment_ids)


def full_forward_greedy(model, prompt, n, width=16):
    """Greedy decoding by re-running the full (jitted, right-padded to ``width``) forward."""
    ids = list(prompt)
    for _ in range(n):
        row = np.zeros((1, width), np.int32)
        row[0, : len(ids)] = ids
        logits = forward(model, jnp.asarray(row))
        ids.append(int(jnp.argmax(logits[0, len(ids) - 1])))
    return ids[len(prompt):]


def test_config_parsing():
    cfg = LlamaConfig.from_dict({**CFG, "model_type": "qwen2", "use_sliding_window": False,
                                 "sliding_window": 4096, "eos_token_id": [3, 4]})
    assert cfg.qkv_bias and not cfg.o_bias and cfg.sliding_window is None
    assert cfg.eos_token_id == (3, 4) and cfg.head_dim == 8
    assert LlamaConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(UnsupportedArchitectureError, match="gpt2"):
        LlamaConfig.from_dict({**CFG, "model_type": "gpt2"})


def test_llama3_rope_scaling_hand_checked():
    cfg = LlamaConfig.from_dict({**CFG, "rope_theta": 10000.0, "rope_scaling": {
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 16}})
    inv = rope_inv_freq(cfg)
    # head_dim 8: base freqs 1, 0.1, 0.01, 0.001 -> wavelengths 6.28, 62.8, 628, 6283;
    # 4 < 6.28 < 16: smoothed with s = (16 / 6.283 - 1) / 3; longer ones divided by 8.
    s = (16 / (2 * np.pi) - 1) / 3
    assert inv[0] == pytest.approx((1 - s) / 8 + s)
    assert inv[1:] == pytest.approx((0.1 / 8, 0.01 / 8, 0.001 / 8))


def test_loss_counts_masked_tokens(model):
    ids = jnp.asarray([[5, 6, 7, 8], [9, 10, 11, 0]], jnp.int32)
    mask = jnp.asarray([[1, 1, 1, 1], [1, 1, 1, 0]], jnp.int32)
    logits = forward(model, ids, mask)
    targets, loss_mask = shift_targets(ids, mask)
    loss, n = lm_loss(logits, targets, loss_mask)
    assert int(n) == 3 + 2
    logp = jax.nn.log_softmax(logits, axis=-1)
    picked = [-logp[0, t, int(ids[0, t + 1])] for t in range(3)]
    picked += [-logp[1, t, int(ids[1, t + 1])] for t in range(2)]
    assert float(loss) == pytest.approx(float(np.mean(picked)), abs=1e-6)
    zero, n0 = lm_loss(logits, targets, jnp.zeros_like(loss_mask))
    assert float(zero) == 0.0 and int(n0) == 0


def test_segments_isolate_packed_examples(model):
    a, b = [5, 6, 7], [8, 9, 10, 11]
    ids = jnp.asarray([a + b], jnp.int32)
    seg = jnp.asarray([[1] * 3 + [2] * 4], jnp.int32)
    pos = jnp.asarray([[0, 1, 2, 0, 1, 2, 3]], jnp.int32)
    packed = forward(model, ids, positions=pos, segment_ids=seg)
    np.testing.assert_allclose(packed[0, 3:], forward(model, jnp.asarray([b]))[0], atol=1e-5)
    np.testing.assert_allclose(packed[0, :3], forward(model, jnp.asarray([a]))[0], atol=1e-5)


def test_kv_cache_greedy_equals_full_forward(model):
    prompt = [5, 17, 23, 9, 41]
    out = generate(model, [prompt], max_new_tokens=8, stop_token_ids=[])
    assert out.tokens[0].tolist() == full_forward_greedy(model, prompt, 8)


def test_batched_prompts_of_different_lengths(model):
    prompts = [[5, 17, 23], [7, 8, 9, 10, 11, 12, 13], [42]]
    batched = generate(model, prompts, max_new_tokens=6, stop_token_ids=[])
    for p, row in zip(prompts, batched.tokens, strict=True):
        assert row.tolist() == full_forward_greedy(model, p, 6)


def test_batch_generator_rows_stop_independently(model):
    prompts = [[5, 17, 23], [7, 8, 9, 10, 11, 12, 13], [42]]
    free = [full_forward_greedy(model, p, 6) for p in prompts]
    stop = next(t for t in free[0] if any(t not in f for f in free[1:]))
    gen = BatchGenerator(model, max_new_tokens=6, stop_token_ids=[stop], pad_token_id=0)
    ids, mask = left_pad(prompts, pad_token_id=0, multiple=8)
    out = gen(ids, mask)
    for row, f in zip(out.as_lists(), free, strict=True):
        assert row == (f[: f.index(stop) + 1] if stop in f else f)
    lengths = out.lengths.tolist()
    assert min(lengths) < 6 and max(lengths) == 6  # rows stopped on their own
    k = lengths[0]
    assert out.tokens[0, k:].tolist() == [0] * (6 - k)  # padding after the stop token
    gen(ids[::-1].copy(), mask[::-1].copy())  # same shape: no second program
    assert gen.compiled_shapes == [(3, 8)]


def test_stop_token_ends_row(model):
    prompt = [5, 17, 23, 9, 41]
    free = full_forward_greedy(model, prompt, 6)
    stop = free[2]
    out = generate(model, [prompt], max_new_tokens=6, stop_token_ids=[stop], pad_token_id=0)
    k = free.index(stop)
    assert out.as_lists()[0] == free[: k + 1]
    assert out.tokens[0, k + 1:].tolist() == [0] * (6 - k - 1)


def test_sampling(model):
    prompt = [[5, 17, 23]]
    greedy = generate(model, prompt, max_new_tokens=5, stop_token_ids=[])
    tiny_p = generate(model, prompt, max_new_tokens=5, stop_token_ids=[], temperature=1.0,
                      top_p=1e-6, seed=3)
    assert tiny_p.tokens.tolist() == greedy.tokens.tolist()  # nucleus of one token = argmax
    a = generate(model, prompt, max_new_tokens=5, stop_token_ids=[], temperature=1.0, seed=1)
    b = generate(model, prompt, max_new_tokens=5, stop_token_ids=[], temperature=1.0, seed=1)
    assert a.tokens.tolist() == b.tokens.tolist()


def test_top_p_keeps_nucleus():
    logits = jnp.log(jnp.asarray([[0.5, 0.3, 0.15, 0.05]]))
    keys = jax.random.split(jax.random.key(0), 400)
    draws = jax.vmap(lambda k: sample_logits(logits, k, jnp.float32(1.0), jnp.float32(0.7)))(keys)
    assert set(np.unique(np.asarray(draws)).tolist()) == {0, 1}


def test_left_pad():
    ids, mask = left_pad([[1, 2], [3]], pad_token_id=0, multiple=4)
    assert ids.tolist() == [[0, 0, 1, 2], [0, 0, 0, 3]]
    assert mask.tolist() == [[0, 0, 1, 1], [0, 0, 0, 1]]


class Doubler(nnx.Module):
    """An adapter-style wrapper keeping ``.base``."""

    def __init__(self, base: Linear):
        self.base = base
        self.scale = nnx.Param(jnp.asarray(2.0))

    def __call__(self, x):
        return self.base(x) * self.scale[...]


def test_replacing_projection_is_seen_by_state_and_jit():
    m = LlamaForCausalLM(LlamaConfig.from_dict(CFG), rngs=nnx.Rngs(1))
    ids = jnp.asarray([[5, 6, 7]], jnp.int32)
    before = m(ids)
    m.layers[1].self_attn.q_proj = Doubler(m.layers[1].self_attn.q_proj)
    paths = {".".join(map(str, p)) for p, _ in nnx.to_flat_state(nnx.state(m))}
    assert "layers.1.self_attn.q_proj.scale" in paths
    assert "layers.1.self_attn.q_proj.base.kernel" in paths
    after = nnx.jit(lambda mod, x: mod(x))(m, ids)
    assert not np.allclose(before, after)
    m.layers[1].self_attn.q_proj.scale[...] = jnp.asarray(1.0)
    np.testing.assert_allclose(nnx.jit(lambda mod, x: mod(x))(m, ids), before, atol=1e-6)


def test_grad_flows_to_wrapper_only_param():
    m = LlamaForCausalLM(LlamaConfig.from_dict(CFG), rngs=nnx.Rngs(2))
    m.layers[0].mlp.down_proj = Doubler(m.layers[0].mlp.down_proj)
    ids = jnp.asarray([[5, 6, 7, 8]], jnp.int32)
    targets, mask = shift_targets(ids)

    def loss_fn(mod):
        return lm_loss(mod(ids), targets, mask)[0]

    is_scale = lambda path, _: path[-1] == "scale"
    grads = nnx.jit(lambda mod: nnx.grad(loss_fn, argnums=nnx.DiffState(0, is_scale))(mod))(m)
    leaves = jax.tree.leaves(grads)
    assert len(leaves) == 1 and float(jnp.abs(leaves[0])) > 0


@pytest.mark.parametrize("T, block", [(300, 128), (256, 64), (96, 32)])
def test_causal_blocks_match_full_attention(T, block):
    """Blocked causal attention (query blocks skip later keys) = every score computed, for
    values and gradients, with padding, packed segments and a last block shorter than the rest."""
    from qtn.models.attention import attention_mask_matrix, grouped_attention

    B, H, K, D = 2, 6, 2, 8
    keys = jax.random.split(jax.random.key(1), 4)
    q = jax.random.normal(keys[0], (B, T, H, D))
    k, v = (jax.random.normal(kk, (B, T, K, D)) for kk in keys[1:3])
    w = jax.random.normal(keys[3], (B, T, H * D))
    slots = jnp.broadcast_to(jnp.arange(T), (B, T))
    valid = slots < jnp.array([[T], [T - 37]])  # second row right-padded
    segments = slots // 70
    mask = attention_mask_matrix(slots, slots, valid, segments, segments)

    def loss(q, k, v, causal_block):
        return jnp.sum(grouped_attention(q, k, v, mask, causal_block=causal_block) * w)

    full = jax.value_and_grad(loss, argnums=(0, 1, 2))(q, k, v, None)
    blocked = jax.value_and_grad(loss, argnums=(0, 1, 2))(q, k, v, block)
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(blocked), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=2e-5)
