"""The memory plan from shapes: exact parameter / optimizer terms, the effect of each option
(storage dtype, remat, chunked loss, fsdp), the refusal with its breakdown, size parsing."""

import math

import pytest
from flax import nnx

from qtn.models import LlamaConfig
from qtn.models.random_init import abstract_llama
from qtn.train.memory import (
    AdapterModule,
    MemoryBudgetError,
    estimate_memory,
    machine_memory,
    parse_size,
)

# DeepSeek-R1-Distill-Qwen-1.5B's shapes
QWEN_1P5B = LlamaConfig(
    vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
    num_attention_heads=12, num_key_value_heads=2, head_dim=128, model_type="qwen2",
    qkv_bias=True, rope_theta=10000.0,
)
LORA = [
    AdapterModule(f"layers.{i}.self_attn.{p}", 1536, o, 8 * (1536 + o))
    for i in range(28)
    for p, o in (("q_proj", 1536), ("v_proj", 256))
]


def plan(**kw):
    args = dict(batch_size=4, seq_len=256, param_dtype="bfloat16", adapters=LORA,
                remat="layer", loss_chunk=256)
    return estimate_memory(QWEN_1P5B, **{**args, **kw})


def test_parameter_and_optimizer_terms_are_exact():
    n_params = sum(
        math.prod(v.get_value().shape)
        for _, v in nnx.to_flat_state(nnx.state(abstract_llama(QWEN_1P5B), nnx.Param))
    )
    assert n_params == 1_777_088_000  # DeepSeek-R1-Distill-Qwen-1.5B's parameter count
    p = plan()
    assert p.terms["base_params"] == 2 * n_params
    assert plan(param_dtype="float32").terms["base_params"] == 4 * n_params
    trainable = 1_089_536
    assert sum(m.trainable for m in LORA) == trainable
    assert p.terms["adapter_params"] == p.terms["gradients"] == 4 * trainable
    assert p.terms["optimizer"] == 8 * trainable
    assert plan(grad_accum=4).terms["gradients"] == 8 * trainable


def test_options_move_the_right_terms():
    base = plan()
    assert plan(remat="none").terms["activations"] > 10 * base.terms["activations"]
    assert plan(remat="attention_mlp").terms["activations"] < plan(remat="none").terms[
        "activations"]
    full = plan(loss_chunk=0).terms["logits"]
    assert full == 3 * 1024 * 151936 * 4  # logits, softmax and gradient, fp32
    assert base.terms["logits"] < full / 3
    sharded = plan(fsdp=4)
    assert sharded.tokens_per_device == 256  # the batch of 4 split over 4 devices
    # every weight matrix is split over fsdp; norms and biases are replicated
    assert base.terms["base_params"] / 4 < sharded.terms["base_params"] < base.terms[
        "base_params"] / 3.99
    assert sharded.per_process > sharded.per_device  # 4 devices share one host
    inference = plan(training=False)
    assert inference.terms["optimizer"] == 0 and inference.terms["activations"] < base.terms[
        "activations"]


def test_scanned_layers_keep_one_stacked_copy_of_the_decoder_weights():
    layer = sum(
        math.prod(v.get_value().shape)
        for path, v in nnx.to_flat_state(nnx.state(abstract_llama(QWEN_1P5B), nnx.Param))
        if path[:2] == ("layers", 0)
    )
    assert plan(param_dtype="float32").terms["widened_weights"] == 0  # loop, fp32: nothing
    # scanned: the stacked copy of every decoder layer's weights, in the storage dtype
    assert plan(param_dtype="float32", scan=True).terms["widened_weights"] == 28 * layer * 4
    head_and_embedding = 2 * 151936 * 1536 * 4  # untied, widened whole where used
    assert plan(scan=True).terms["widened_weights"] == 28 * layer * 2 + head_and_embedding
    assert plan(scan=True).terms["widened_weights"] < plan().terms["widened_weights"]
    assert "layers scanned" in plan(scan=True).notes[0]
    assert plan(scan=True, training=False).terms["widened_weights"] == head_and_embedding


def test_16bit_compute_widens_the_weights_on_cpu_only():
    """XLA:CPU runs bf16 dots in float32: bf16 compute over a bf16 base keeps the same float32
    copies under remat as fp32 compute does; on a GPU it keeps none."""
    on_cpu, on_gpu = plan(dtype="bfloat16"), plan(dtype="bfloat16", platform="gpu")
    assert on_gpu.terms["widened_weights"] == 0
    assert on_cpu.terms["widened_weights"] == plan().terms["widened_weights"] > 0
    assert any("matmuls run in float32" in n for n in on_cpu.notes)
    assert not any("matmuls run in float32" in n for n in on_gpu.notes)


def test_refusal_names_the_largest_term():
    p = plan(param_dtype="float32", remat="none", loss_chunk=0)
    with pytest.raises(MemoryBudgetError) as info:
        p.check(parse_size("8GiB"))
    msg = str(info.value)
    assert "exceeds the budget 8.00 GiB" in msg and "largest term: base_params, 6.62 GiB" in msg
    assert "| base_params |" in msg and "train.remat=layer" in msg
    p.check(p.per_process)  # exactly at the budget: fine


def test_parse_size_and_machine_memory():
    assert parse_size("12GiB") == 12 * 2**30
    assert parse_size("24G") == 24 * 2**30
    assert parse_size("512MB") == 512 * 2**20
    assert parse_size("1.5e9") == 1_500_000_000
    assert parse_size(1024) == 1024
    with pytest.raises(ValueError, match="memory size '12 parsecs'"):
        parse_size("12 parsecs")
    assert machine_memory() > 2**30
