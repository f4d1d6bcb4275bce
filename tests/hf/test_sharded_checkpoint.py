"""Sharded safetensors (``model-0000k-of-0000n.safetensors`` + ``model.safetensors.index.json``)
of a Qwen2 model (qkv bias, untied embeddings, rope theta 1e6) stream tensor by tensor into the
target storage dtype: logits match transformers in fp32, bf16 storage stays close, and a
bfloat16 checkpoint loads without torch."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from qtn.hf import from_pretrained
from qtn.hf.safetensors_io import iter_tensors, safetensors_files


@pytest.fixture(scope="module")
def qwen2_sharded(tmp_path_factory):
    import hf_reference as ref

    tmodel = ref.torch_model("qwen2_bias")
    folder = ref.save_checkpoint(tmodel, tmp_path_factory.mktemp("qwen2"), max_shard_size="40KB")
    return tmodel, folder


def test_index_and_shards_are_streamed(qwen2_sharded):
    tmodel, folder = qwen2_sharded
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    files = safetensors_files(folder)
    assert len(files) >= 3 and [f.name for f in files] == sorted(set(index["weight_map"].values()))
    assert files[0].name.startswith("model-00001-of-")
    seen = dict(iter_tensors(files))
    assert set(seen) == set(index["weight_map"])
    q = seen["model.layers.0.self_attn.q_proj.weight"]
    assert isinstance(q.base, np.memmap) or isinstance(q, np.memmap)  # nothing read up front
    expected = tmodel.state_dict()["model.layers.0.self_attn.q_proj.weight"].numpy()
    np.testing.assert_array_equal(np.asarray(q), expected)


def test_qwen2_sharded_parity_fp32_and_bf16_storage(qwen2_sharded):
    import hf_reference as ref

    tmodel, folder = qwen2_sharded
    ids = np.random.default_rng(0).integers(0, 96, size=(2, 16)).astype(np.int32)
    expected = ref.torch_logits(tmodel, ids)
    m32, _ = from_pretrained(folder, with_tokenizer=False)
    cfg = m32.config
    assert cfg.qkv_bias and not cfg.tie_word_embeddings and cfg.rope_theta == 1e6
    assert np.max(np.abs(np.asarray(m32(jnp.asarray(ids))) - expected)) < 1e-4
    m16, _ = from_pretrained(folder, param_dtype=jnp.bfloat16, with_tokenizer=False)
    assert m16.layers[0].self_attn.q_proj.kernel[...].dtype == jnp.bfloat16
    assert m16.layers[0].self_attn.q_proj.bias[...].dtype == jnp.bfloat16
    assert m16.lm_head.kernel[...].dtype == jnp.bfloat16
    got = np.asarray(m16(jnp.asarray(ids)))  # float32 compute over bf16 weights
    assert got.dtype == np.float32
    assert np.max(np.abs(got - expected)) < 0.05 * np.max(np.abs(expected))


def test_bfloat16_checkpoint_loads(tmp_path):
    import hf_reference as ref
    import torch

    tmodel = ref.torch_model("qwen2_bias").to(torch.bfloat16)
    folder = ref.save_checkpoint(tmodel, tmp_path / "bf16")
    model, _ = from_pretrained(folder, param_dtype=jnp.bfloat16, with_tokenizer=False)
    want = tmodel.state_dict()["model.layers.1.mlp.down_proj.weight"].float().numpy().T
    got = np.asarray(model.layers[1].mlp.down_proj.kernel[...].astype(jnp.float32))
    np.testing.assert_array_equal(got, want)  # bit-exact: no detour through another dtype
