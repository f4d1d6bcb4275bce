"""Jitted steps on the tiny Llama: step-0 invariant, only adapters train, no retrace per shape."""

import jax
import numpy as np
import pytest
from flax import nnx

from qtn.adapters import inject, merge
from qtn.nn.variables import AdapterParam
from qtn.train.compile import compile_all, step_jobs
from qtn.train.config import TrainConfig
from qtn.train.optim import make_optimizer
from qtn.train.steps import PACKED_KEYS, EvalStep, TrainStep


@pytest.fixture
def tiny(tiny_checkpoint):
    from qtn.hf import from_pretrained

    model, _ = from_pretrained(tiny_checkpoint)
    return model


def _batch(rng, B, T, vocab):
    ids = rng.integers(0, vocab, (B, T)).astype(np.int32)
    mask = np.ones((B, T), np.int32)
    mask[0, T // 2 :] = 0  # one right-padded row
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "targets": np.roll(ids, -1, axis=1),
        "loss_mask": mask,
        "positions": np.cumsum(mask, axis=1).astype(np.int32) * mask - mask,
        "segment_ids": mask,
        "example_index": np.arange(B, dtype=np.int32),
    }


def test_step0_invariant_and_merge_on_llama(tiny):
    rng = np.random.default_rng(0)
    b = _batch(rng, 2, 16, tiny.config.vocab_size)
    base = tiny(b["input_ids"], b["attention_mask"])
    inject(tiny, "lora", ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"], r=4)
    adapted = tiny(b["input_ids"], b["attention_mask"])
    assert float(np.abs(np.asarray(adapted - base)).max()) <= 1e-5
    for _, var in nnx.to_flat_state(nnx.state(tiny, AdapterParam)):
        var[...] = 0.05 * jax.random.normal(jax.random.key(1), var[...].shape)
    adapted = tiny(b["input_ids"], b["attention_mask"])
    merge(tiny)
    merged = tiny(b["input_ids"], b["attention_mask"])
    np.testing.assert_allclose(np.asarray(merged), np.asarray(adapted), atol=1e-5)


def test_train_step_compiles_once_per_shape_and_trains_adapters_only(tiny):
    inject(tiny, "lora", ["q_proj", "v_proj"], r=2, dropout=0.1)
    frozen = nnx.All(nnx.Param, nnx.Not(AdapterParam))
    frozen_before = jax.tree.map(np.asarray, nnx.state(tiny, frozen))
    optimizer, _ = make_optimizer(TrainConfig(steps=10, lr=1e-2), tiny)
    step = TrainStep(tiny, optimizer, batch_keys=PACKED_KEYS)
    evaluate = EvalStep(tiny, batch_keys=PACKED_KEYS)
    rng = np.random.default_rng(0)
    vocab = tiny.config.vocab_size
    losses = []
    for i in range(6):
        out = step(_batch(rng, 2, 16 if i % 2 else 32, vocab))
        losses.append(float(out["loss"]))
        evaluate(_batch(rng, 2, 16, vocab))
    assert step.traces == 2  # one per shape, none after
    small, large = sorted(step.flops.values())
    assert 0 < small and 1.8 < large / small < 2.5  # T=32 costs about twice T=16
    assert evaluate.traces == 1
    assert int(optimizer.step[...]) == 6 and all(np.isfinite(losses))
    frozen_after = jax.tree.map(np.asarray, nnx.state(tiny, frozen))
    assert jax.tree.all(jax.tree.map(np.array_equal, frozen_before, frozen_after))
    b_param = tiny.layers[0].self_attn.q_proj.lora_b[...]
    assert float(np.abs(np.asarray(b_param)).max()) > 0


def test_selected_positions_match_full_logits(tiny_checkpoint):
    from qtn.hf import from_pretrained

    rng = np.random.default_rng(1)
    batches = [_batch(rng, 2, 16, 300) for _ in range(2)]
    for b in batches:  # SFT-like: a few completion tokens per row
        b["loss_mask"][:] = 0
        b["loss_mask"][:, 5:7] = 1
    results = []
    for select in (True, False):
        model, _ = from_pretrained(tiny_checkpoint)
        inject(model, "lora", ["q_proj", "v_proj"], r=2, rngs=nnx.Rngs(0))
        optimizer, _ = make_optimizer(TrainConfig(steps=4, lr=1e-2), model)
        step = TrainStep(model, optimizer, batch_keys=PACKED_KEYS, select=select)
        evaluate = EvalStep(model, batch_keys=PACKED_KEYS, select=select)
        losses = [float(step(b)["loss"]) for b in batches]
        rows = evaluate(batches[0])
        b_param = np.asarray(model.layers[1].self_attn.v_proj.lora_b[...])
        results.append((losses, rows, b_param, step.inputs.select))
    (l1, r1, p1, s1), (l2, r2, p2, s2) = results
    assert s1 and not s2
    np.testing.assert_allclose(l1, l2, rtol=1e-5)
    np.testing.assert_allclose(r1[0], r2[0], rtol=1e-5)
    np.testing.assert_array_equal(r1[1], r2[1])
    np.testing.assert_allclose(p1, p2, atol=1e-6)


def test_precision_policy_bf16_base_fp32_adapters(tiny_checkpoint):
    """bf16 frozen storage, fp32 compute: adapters, gradients and optimizer state are fp32, the
    loss is fp32 and close to the all-fp32 model's; remat + chunked head on."""
    import jax.numpy as jnp

    from qtn.hf import from_pretrained

    losses = {}
    for storage in ("float32", "bfloat16"):
        model, _ = from_pretrained(tiny_checkpoint, param_dtype=storage, with_tokenizer=False)
        model.remat = "layer"
        inject(model, "lora", ["q_proj", "v_proj"], r=2)
        optimizer, _ = make_optimizer(TrainConfig(steps=10, lr=1e-2), model)
        step = TrainStep(model, optimizer, batch_keys=PACKED_KEYS, loss_chunk=8)
        out = step(_batch(np.random.default_rng(0), 2, 16, model.config.vocab_size))
        losses[storage] = float(out["loss"])
        assert out["loss"].dtype == jnp.float32
        base = model.layers[0].self_attn.q_proj.base.kernel[...]
        assert base.dtype == jnp.dtype(storage)
        assert model.embed_tokens.embedding[...].dtype == jnp.dtype(storage)
        for leaf in jax.tree.leaves(nnx.state(model, AdapterParam)):
            assert leaf.dtype == jnp.float32
        opt_leaves = [x for x in jax.tree.leaves(nnx.state(optimizer)) if hasattr(x, "dtype")]
        assert {str(x.dtype) for x in opt_leaves if x.ndim} == {"float32"}
    assert abs(losses["bfloat16"] - losses["float32"]) < 0.02 * losses["float32"]


def test_precompiled_shapes_and_pinned_gather_size(tiny):
    """compile_all over step_jobs builds each shape once (in parallel) before any step runs;
    a pinned K gives batches with different loss-token counts one program."""
    inject(tiny, "lora", ["q_proj", "v_proj"], r=2, rngs=nnx.Rngs(0))
    optimizer, _ = make_optimizer(TrainConfig(steps=4, lr=1e-2), tiny)
    step = TrainStep(tiny, optimizer, batch_keys=PACKED_KEYS)
    rng = np.random.default_rng(0)
    batches = [_batch(rng, 2, t, tiny.config.vocab_size) for t in (16, 16, 24, 24)]
    batches[0]["loss_mask"][:, 1:] = 0  # 2 loss tokens (K 16) vs up to 32 in the others
    assert step.inputs.pin(batches) == 48  # the largest K these batches need (<= B·T)
    jobs = step_jobs("train", step, batches)
    assert [j.name for j in jobs] == ["train (2, 16)", "train (2, 24)"]
    report = compile_all(jobs, workers=2)
    assert report.programs == 2 and report.workers == 2 and step.traces == 2
    assert all(step.compiled(b) for b in batches) and step_jobs("train", step, batches) == []
    for b in batches:
        step(b)
    assert step.traces == 2  # nothing traced or compiled while stepping


def test_scanned_bf16_base_equals_the_loop():
    """Scanned layers over a bf16 base (fp32 compute; 16-bit weights stacked as uint16 bits,
    bitcast back per slice) give the looped model's loss; so does an fp32 base."""
    import jax.numpy as jnp

    from qtn.models import LlamaConfig
    from qtn.models.random_init import random_llama

    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=8)
    losses = {}
    for storage in ("bfloat16", "float32"):
        model = random_llama(cfg, param_dtype=jnp.dtype(storage), remat="layer")
        inject(model, "lora", target_modules=["q_proj"], r=2, rngs=nnx.Rngs(0))
        optimizer, _ = make_optimizer(TrainConfig(steps=2, lr=1e-2, warmup_steps=0), model)
        batch = _batch(np.random.default_rng(0), 2, 8, 64)
        looped = TrainStep(model, optimizer, select=False)
        _, loop = jax.jit(looped._step)(looped.frozen, looped.mutable, looped.inputs.host(batch))
        model.scan_layers = True
        losses[storage] = float(TrainStep(model, optimizer, select=False)(batch)["loss"])
        np.testing.assert_allclose(losses[storage], float(loop["loss"]), rtol=1e-5)
    assert np.isfinite(losses["bfloat16"]) and abs(losses["bfloat16"] - losses["float32"]) < 0.05


@pytest.mark.parametrize("method, options, accum", [
    ("lora", {"r": 2}, 1),
    ("qtha", {"arch": "ABC", "r": 2, "alpha": 4, "bottleneck": 4, "mpo_cores": 2,
              "mpo_ranks": 2, "qnn_layers": 1}, 1),
    ("lora", {"r": 2}, 2),
])
def test_stacked_adapter_step_equals_the_per_layer_step(method, options, accum):
    """A scanned model's adapter arrays differentiated as one stack per kind
    (qtn.train.stacked) give the per-layer step's losses, arrays and optimizer state over
    three steps (QTHA: two learning-rate groups, circuit angles and cores), with fewer
    kernels in the compiled step. With gradient accumulation (optax.MultiSteps keeps state
    per array) stacking saves nothing, and the step stays per layer."""
    import re

    import jax.numpy as jnp

    from qtn.models import LlamaConfig
    from qtn.models.random_init import random_llama

    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=3,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=8)
    batches = [_batch(np.random.default_rng(s), 2, 8, 64) for s in range(3)]
    runs = {}
    for stacked in (True, False):
        model = random_llama(cfg, param_dtype=jnp.float32)
        inject(model, method, target_modules=["q_proj", "v_proj"], rngs=nnx.Rngs(0), **options)
        model.scan_layers = True
        train = TrainConfig(steps=3, lr=1e-2, angle_lr=3e-2, warmup_steps=0, weight_decay=0.1,
                            grad_accum=accum)
        optimizer, _ = make_optimizer(train, model)
        step = TrainStep(model, optimizer, select=False, stack_layers=stacked)
        assert (step.stack is not None) == (stacked and accum == 1)
        kernels = len(re.findall(r"kind=k\w+", step.lower(batches[0])[1].compile().as_text()))
        losses = [float(step(b)["loss"]) for b in batches]
        runs[stacked] = (losses, nnx.state(model, AdapterParam), nnx.state(optimizer), kernels)
    (loss_s, params_s, opt_s, k_s), (loss_p, params_p, opt_p, k_p) = runs[True], runs[False]
    np.testing.assert_allclose(loss_s, loss_p, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(params_s), jax.tree.leaves(params_p), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(opt_s), jax.tree.leaves(opt_p), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    assert loss_s[-1] != loss_s[0]  # it trained
    assert k_s < k_p if accum == 1 else k_s == k_p, (k_s, k_p)
