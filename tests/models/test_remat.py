"""Rematerialisation of decoder layers: the same loss and adapter gradients as no remat (fp32,
to 1e-6 of the gradient scale), in the plain, bias and hybrid-adapter cases; a bad mode is a
clear error. The memory it saves is measured in benchmarks/results/scale.md."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qtn.adapters import inject
from qtn.models import LlamaConfig, LlamaForCausalLM
from qtn.models.llama import REMAT_MODES
from qtn.models.random_init import random_llama
from qtn.nn.variables import AdapterParam

CFG = LlamaConfig(
    vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, head_dim=8, model_type="qwen2", qkv_bias=True,
)


@functools.cache
def _loss_and_grads(remat: str, method: str):
    model = random_llama(CFG, remat=remat, std=0.2)
    if method == "lora":
        inject(model, "lora", ["q_proj", "v_proj", "down_proj"], r=2)
    else:
        inject(model, "mpo", ["q_proj", "up_proj"], bond=2, num_cores=2)
    for i, (_, v) in enumerate(nnx.to_flat_state(nnx.state(model, AdapterParam))):
        v[...] = 0.1 * jax.random.normal(jax.random.key(i), v[...].shape)
    ids = jnp.asarray(np.random.default_rng(0).integers(0, 64, (2, 12)), jnp.int32)

    def loss(m):
        logits = m(ids).astype(jnp.float32)
        return jnp.mean(jax.nn.logsumexp(logits, -1) - jnp.take_along_axis(
            logits, jnp.roll(ids, -1, 1)[..., None], -1)[..., 0])

    value, grads = nnx.jit(nnx.value_and_grad(loss, argnums=nnx.DiffState(0, AdapterParam)))(
        model
    )
    return float(value), [np.asarray(g) for g in jax.tree.leaves(grads)]


@pytest.mark.parametrize(
    "remat, method", [("layer", "lora"), ("attention_mlp", "lora"), ("layer", "mpo")]
)
def test_remat_gives_the_same_gradients(remat, method):
    ref_loss, ref = _loss_and_grads("none", method)
    loss, got = _loss_and_grads(remat, method)
    scale = max(float(np.max(np.abs(g))) for g in ref)
    assert scale > 1e-2 and len(got) == len(ref) >= 4
    assert abs(loss - ref_loss) <= 1e-6 * max(1.0, abs(ref_loss))
    for a, b in zip(got, ref, strict=True):
        assert float(np.max(np.abs(a - b))) <= 1e-6 * max(1.0, scale)


def test_remat_modes_and_errors():
    assert REMAT_MODES == ("none", "layer", "attention_mlp")
    with pytest.raises(ValueError, match="remat must be one of .* got 'layers'"):
        LlamaForCausalLM(CFG, remat="layers", rngs=nnx.Rngs(0))


def test_random_llama_storage_dtype_and_axes():
    model = random_llama(CFG, param_dtype=jnp.bfloat16)
    up = model.layers[0].mlp.up_proj.kernel
    assert up[...].dtype == jnp.bfloat16 and up.get_metadata()["axes"] == ("embed", "mlp")
    assert model.embed_tokens.embedding.get_metadata()["axes"] == ("vocab", "embed")
    np.testing.assert_array_equal(np.asarray(model.norm.weight[...], np.float32), 1.0)
    assert float(jnp.std(up[...].astype(jnp.float32))) == pytest.approx(0.02, rel=0.2)
