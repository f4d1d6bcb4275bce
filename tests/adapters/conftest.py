"""A toy NNX model with Llama-like module paths (``layers.N.self_attn.q_proj`` ...)."""

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from qtn.nn.linear import Linear


class ToyAttention(nnx.Module):
    def __init__(self, d: int, rngs: nnx.Rngs):
        self.q_proj = Linear(d, d, rngs=rngs)
        self.v_proj = Linear(d, 2 * d, rngs=rngs)
        self.o_proj = Linear(2 * d, d, rngs=rngs)

    def __call__(self, x):
        return self.o_proj(jnp.tanh(self.v_proj(self.q_proj(x))))


class ToyBlock(nnx.Module):
    def __init__(self, d: int, rngs: nnx.Rngs):
        self.self_attn = ToyAttention(d, rngs)

    def __call__(self, x):
        return x + self.self_attn(x)


class ToyModel(nnx.Module):
    """x: (..., d) -> (..., 5)."""

    def __init__(self, d: int = 8, n: int = 2, *, rngs: nnx.Rngs):
        self.layers = nnx.List([ToyBlock(d, rngs) for _ in range(n)])
        self.lm_head = Linear(d, 5, rngs=rngs)

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(x)


@pytest.fixture
def toy():
    """Factory: ``toy(seed=0)`` -> a fresh ToyModel (same seed -> same weights)."""
    return lambda seed=0: ToyModel(rngs=nnx.Rngs(seed))


@pytest.fixture
def x():
    return jax.random.normal(jax.random.key(7), (3, 4, 8))


def randomize_adapters(model, seed: int = 3):
    """Give every adapter parameter random values (so updates are non-zero)."""
    from qtn.nn.variables import AdapterParam

    key = jax.random.key(seed)
    for _, var in nnx.to_flat_state(nnx.state(model, AdapterParam)):
        key, sub = jax.random.split(key)
        var[...] = 0.1 * jax.random.normal(sub, var[...].shape)


@pytest.fixture
def randomize():
    return randomize_adapters
