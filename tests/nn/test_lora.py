"""LoRALinear: zero update at init, delta_weight equals the forward's update, exact counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qtn.nn.linear import Linear
from qtn.nn.lora import LoRALinear
from qtn.nn.variables import CoreParam


@pytest.mark.parametrize("r", [1, 4])
def test_lora_is_identity_at_init_and_counts(r):
    base = Linear(12, 20, rngs=nnx.Rngs(0))
    layer = LoRALinear(base, r=r, alpha=2 * r, rngs=nnx.Rngs(1))
    x = jax.random.normal(jax.random.key(2), (3, 5, 12))
    np.testing.assert_array_equal(layer(x), base(x))
    assert layer.num_trainable() == r * (12 + 20)
    assert layer.lora_a[...].shape == (12, r) and layer.lora_b[...].shape == (r, 20)
    assert isinstance(layer.lora_a, CoreParam)
    assert float(jnp.abs(layer.lora_a[...]).max()) <= 1 / np.sqrt(12)


def test_delta_weight_matches_forward():
    base = Linear(8, 6, rngs=nnx.Rngs(0))
    layer = LoRALinear(base, r=3, alpha=6.0, rngs=nnx.Rngs(1))
    layer.lora_b[...] = jax.random.normal(jax.random.key(3), (3, 6))
    x = jax.random.normal(jax.random.key(4), (7, 8))
    expected = x @ (base.kernel[...] + layer.delta_weight())
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        layer.delta_weight(), 2.0 * layer.lora_a[...] @ layer.lora_b[...], rtol=1e-6
    )


def test_dropout_only_in_training_mode():
    base = Linear(8, 8, rngs=nnx.Rngs(0))
    layer = LoRALinear(base, r=2, alpha=2.0, dropout=0.5, rngs=nnx.Rngs(1))
    layer.lora_b[...] = jnp.ones((2, 8))
    x = jnp.ones((4, 8))
    no_drop = x @ (base.kernel[...] + layer.delta_weight())
    assert not np.allclose(layer(x), no_drop)
    view = nnx.view(layer, deterministic=True)
    np.testing.assert_allclose(view(x), no_drop, rtol=1e-5)


def test_rank_must_be_positive():
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(Linear(4, 4, rngs=nnx.Rngs(0)), r=0, alpha=1.0, rngs=nnx.Rngs(0))
