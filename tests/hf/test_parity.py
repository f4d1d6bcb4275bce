"""Logit / loss parity of qtn's NNX decoder against transformers (PyTorch) on tiny checkpoints."""

import jax.numpy as jnp
import numpy as np
import pytest

from qtn.hf import from_pretrained
from qtn.models import lm_loss, shift_targets


@pytest.mark.parametrize("family", ["llama", "qwen2_bias", "tied", "llama3_scaled",
                                    "qwen3_qknorm", "mistral"])
def test_logits_and_loss_match_transformers(family, ref, tmp_path):
    import torch

    tmodel = ref.torch_model(family)
    folder = ref.save_checkpoint(tmodel, tmp_path / family)
    model, _ = from_pretrained(folder, with_tokenizer=False)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 96, size=(2, 24)).astype(np.int32)
    expected = ref.torch_logits(tmodel, ids)
    got = np.asarray(model(jnp.asarray(ids)))
    assert np.max(np.abs(got - expected)) < 1e-4

    with torch.no_grad():
        t_loss = tmodel(input_ids=torch.as_tensor(ids, dtype=torch.long),
                        labels=torch.as_tensor(ids, dtype=torch.long)).loss.item()
    targets, mask = shift_targets(jnp.asarray(ids))
    loss, n = lm_loss(jnp.asarray(got), targets, mask)
    assert int(n) == 2 * 23
    assert abs(float(loss) - t_loss) < 1e-5


def test_padding_matches_transformers(ref, tmp_path):
    """Right and left padding: real-token logits equal the reference given the same positions."""
    tmodel = ref.torch_model("qwen2_bias")
    model, _ = from_pretrained(ref.save_checkpoint(tmodel, tmp_path / "m"), with_tokenizer=False)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 96, size=(3, 16)).astype(np.int32)
    mask = np.ones((3, 16), np.int32)
    mask[1, 11:] = 0  # right padding
    mask[2, :5] = 0  # left padding
    positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0)
    expected = ref.torch_logits(tmodel, ids, mask, positions)
    got = np.asarray(model(jnp.asarray(ids), jnp.asarray(mask)))
    real = mask.astype(bool)
    assert np.max(np.abs(got[real] - expected[real])) < 1e-4
    # and each padded row equals its unpadded version run alone
    alone = np.asarray(model(jnp.asarray(ids[2:3, 5:])))
    np.testing.assert_allclose(got[2, 5:], alone[0], atol=1e-5)
    alone = np.asarray(model(jnp.asarray(ids[1:2, :11])))
    np.testing.assert_allclose(got[1, :11], alone[0], atol=1e-5)


def test_bf16_close_to_fp32(ref, tmp_path):
    tmodel = ref.torch_model("llama")
    folder = ref.save_checkpoint(tmodel, tmp_path / "m")
    m32, _ = from_pretrained(folder, with_tokenizer=False)
    m16, _ = from_pretrained(folder, dtype=jnp.bfloat16, with_tokenizer=False)
    assert m16.layers[0].self_attn.q_proj.kernel[...].dtype == jnp.bfloat16
    ids = jnp.asarray(np.random.default_rng(2).integers(0, 96, size=(2, 12)), jnp.int32)
    a, b = np.asarray(m32(ids)), np.asarray(m16(ids).astype(jnp.float32))
    assert np.max(np.abs(a - b)) < 0.1 * np.max(np.abs(a))
