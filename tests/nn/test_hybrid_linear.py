"""HybridLinear (the circuit_mpo layer): identity at init in both modes, fold == contract,
delta_weight matches the forward, gradients reach angles and cores, frozen parts are
reproducible."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qtn.nn.hybrid_linear import HybridLinear
from qtn.nn.linear import Linear
from qtn.nn.variables import AdapterParam, AngleParam, CoreParam
from qtn.tn import CircuitSpec, hybrid_skeleton

# 32 x 16: site 1 has legs (a0=4, i1=4) x (j1=4, a1=4) -> a 4-qubit circuit
SKEL = hybrid_skeleton((2, 4, 4), (2, 4, 2), 4, {1: CircuitSpec(2)})


def _layer(mode="delta", **kw):
    base = Linear(32, 16, use_bias=True, rngs=nnx.Rngs(0))
    base.bias[...] = jnp.linspace(-1.0, 1.0, 16)
    return base, HybridLinear(base, skeleton=SKEL, mode=mode, rngs=nnx.Rngs(1), **kw)


def _perturb(layer, seed=5):
    key = jax.random.key(seed)
    for _, var in nnx.to_flat_state(nnx.state(layer, AdapterParam)):
        key, sub = jax.random.split(key)
        var[...] = var[...] + 0.3 * jax.random.normal(sub, var[...].shape)


@pytest.mark.parametrize("mode", ["delta", "reparam"])
def test_identity_at_init_fold_equals_contract(mode):
    base, layer = _layer(mode)
    x = jax.random.normal(jax.random.key(2), (2, 3, 32))
    np.testing.assert_allclose(layer(x), base(x), atol=1e-5)
    _perturb(layer)
    folded = layer(x)
    contracted = nnx.clone(layer)
    contracted.forward = "contract"
    np.testing.assert_allclose(contracted(x), folded, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(folded, base(x) + x @ layer.delta_weight(), rtol=1e-4, atol=1e-4)


def test_param_kinds_and_counts():
    _, layer = _layer()
    assert isinstance(layer.angles1, AngleParam) and layer.angles1[...].shape == (2, 4)
    assert isinstance(layer.core0, CoreParam) and isinstance(layer.core2, CoreParam)
    assert layer.num_trainable() == 2 * 2 * 4 + 2 * 4 + 4 * 4 * 2 == 56
    # train only the circuit (reparam): the classical cores are frozen TT-SVD cores
    _, circ = _layer("reparam", train="circuits")
    assert circ.num_trainable() == 8 and type(circ.core0) is nnx.Param
    _, cores = _layer("delta", train="cores")
    assert cores.num_trainable() == 48 and type(cores.angles1) is nnx.Param


def test_frozen_parts_do_not_depend_on_rngs():
    base = Linear(32, 16, rngs=nnx.Rngs(0))
    a = HybridLinear(base, skeleton=SKEL, train="cores", rngs=nnx.Rngs(1))
    b = HybridLinear(base, skeleton=SKEL, train="cores", rngs=nnx.Rngs(2))
    np.testing.assert_array_equal(a.angles1[...], b.angles1[...])
    assert not np.array_equal(a.core0[...], b.core0[...])
    r1 = HybridLinear(base, skeleton=SKEL, mode="reparam", rngs=nnx.Rngs(1))
    r2 = HybridLinear(base, skeleton=SKEL, mode="reparam", rngs=nnx.Rngs(2))
    np.testing.assert_array_equal(r1.residual[...], r2.residual[...])
    assert float(jnp.abs(r1.angles1[...]).max()) == 0.0  # reparam circuits start at 0 angles


@pytest.mark.parametrize("mode", ["delta", "reparam"])
def test_gradients_reach_angles_and_cores(mode):
    _, layer = _layer(mode)
    if mode == "delta":
        _perturb(layer)  # at init only the zero core gets a gradient (as LoRA's B)
    x = jax.random.normal(jax.random.key(3), (6, 32))
    grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2), argnums=nnx.DiffState(0, AdapterParam))(layer)
    norms = {str(p[-1]): float(jnp.linalg.norm(v[...])) for p, v in nnx.to_flat_state(grads)}
    assert sorted(norms) == ["angles1", "core0", "core2"]
    assert min(norms.values()) > 1e-6


def test_complex_ansatz_is_real_and_identity():
    skel = hybrid_skeleton((2, 4, 4), (2, 4, 2), 4, {1: CircuitSpec(1, ansatz="general")})
    base = Linear(32, 16, rngs=nnx.Rngs(0))
    layer = HybridLinear(base, skeleton=skel, mode="reparam", rngs=nnx.Rngs(1))
    x = jax.random.normal(jax.random.key(2), (5, 32))
    y = layer(x)
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, base(x), atol=1e-5)
    assert layer.angles1[...].shape == (1, 4, 3)


def test_delta_needs_a_trainable_core():
    base = Linear(32, 16, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="delta mode"):
        HybridLinear(base, skeleton=SKEL, train="circuits", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="forward must be one of"):
        HybridLinear(base, skeleton=SKEL, forward="both", rngs=nnx.Rngs(0))
