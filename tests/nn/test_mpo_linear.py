"""MPOLinear: identity at init in both modes, delta_weight matches the forward, reparam residual,
exact counts, frozen cores are plain Params, bad skeletons raise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qtn.nn.hybrid_linear import padded_tt_svd
from qtn.nn.linear import Linear
from qtn.nn.mpo_linear import MPOLinear
from qtn.nn.variables import AdapterParam, CoreParam
from qtn.tn import CircuitSpec, hybrid_skeleton, mpo_to_dense

SKEL = hybrid_skeleton((2, 3, 2), (3, 2, 2), 4)  # 12 x 12


def _perturb(layer, seed=5):
    key = jax.random.key(seed)
    for _, var in nnx.to_flat_state(nnx.state(layer, AdapterParam)):
        key, sub = jax.random.split(key)
        var[...] = var[...] + 0.3 * jax.random.normal(sub, var[...].shape)


@pytest.mark.parametrize("mode", ["delta", "reparam"])
@pytest.mark.parametrize("forward", ["fold", "contract"])
def test_identity_at_init_and_delta_weight(mode, forward):
    base = Linear(12, 12, use_bias=True, rngs=nnx.Rngs(0))
    base.bias[...] = jnp.arange(12.0)
    layer = MPOLinear(base, skeleton=SKEL, mode=mode, forward=forward, rngs=nnx.Rngs(1))
    x = jax.random.normal(jax.random.key(2), (3, 5, 12))
    np.testing.assert_allclose(layer(x), base(x), atol=1e-5)
    assert float(jnp.abs(layer.delta_weight()).max()) < 1e-6
    _perturb(layer)
    expected = base(x) + x @ layer.delta_weight()
    np.testing.assert_allclose(layer(x), expected, rtol=1e-4, atol=1e-4)


def test_counts_and_variable_kinds():
    base = Linear(12, 12, rngs=nnx.Rngs(0))
    layer = MPOLinear(base, skeleton=SKEL, rngs=nnx.Rngs(1))
    assert layer.num_trainable() == 2 * 3 * 4 + 4 * 3 * 2 * 4 + 4 * 2 * 2 == 136
    assert isinstance(layer.core0, CoreParam) and layer.core0[...].shape == (1, 2, 3, 4)
    # delta: the last trainable core starts at zero, the others do not
    assert float(jnp.abs(layer.core2[...]).max()) == 0.0 and float(jnp.abs(layer.core0[...]).max())
    frozen = MPOLinear(base, skeleton=SKEL, mode="reparam", train=[1], rngs=nnx.Rngs(1))
    assert frozen.num_trainable() == 96
    assert type(frozen.core0) is nnx.Param and isinstance(frozen.core1, CoreParam)


def test_reparam_starts_from_tt_svd_and_residual():
    base = Linear(12, 12, rngs=nnx.Rngs(0))
    layer = MPOLinear(base, skeleton=SKEL, mode="reparam", rngs=nnx.Rngs(1))
    cores = padded_tt_svd(np.asarray(base.kernel[...]), SKEL)
    np.testing.assert_allclose(layer.core1[...], cores[1], atol=1e-6)
    t0 = mpo_to_dense(cores)
    np.testing.assert_allclose(layer.residual[...], base.kernel[...] - t0, atol=1e-5)
    # the full-rank MPO of a 12 x 12 matrix (bond 12) is exact: residual ~ 0
    exact = MPOLinear(
        base, skeleton=hybrid_skeleton((2, 3, 2), (3, 2, 2), 12), mode="reparam", rngs=nnx.Rngs(1)
    )
    assert float(jnp.abs(exact.residual[...]).max()) < 1e-5


def test_padding_is_exact_when_bond_exceeds_rank():
    w = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    skel = hybrid_skeleton((2, 2), (2, 2), 16)  # max rank of the split is 4
    cores = padded_tt_svd(w, skel)
    assert cores[0].shape == (1, 2, 2, 16)
    np.testing.assert_allclose(mpo_to_dense(cores), w, atol=1e-5)


def test_gradients_reach_every_core():
    base = Linear(12, 12, rngs=nnx.Rngs(0))
    layer = MPOLinear(base, skeleton=SKEL, mode="reparam", rngs=nnx.Rngs(1))
    x = jax.random.normal(jax.random.key(2), (4, 12))
    grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2), argnums=nnx.DiffState(0, AdapterParam))(layer)
    norms = {str(p[-1]): float(jnp.linalg.norm(v[...])) for p, v in nnx.to_flat_state(grads)}
    assert sorted(norms) == ["core0", "core1", "core2"] and min(norms.values()) > 0


def test_bad_arguments_raise():
    base = Linear(12, 12, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="12x8"):
        MPOLinear(base, skeleton=hybrid_skeleton((2, 3, 2), (2, 2, 2), 4), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="mode must be one of"):
        MPOLinear(base, skeleton=SKEL, mode="lora", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="circuit sites"):
        skel = hybrid_skeleton((3, 2, 2), (3, 2, 2), 2, {1: CircuitSpec(1)})
        MPOLinear(base, skeleton=skel, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"train sites \[7\]"):
        MPOLinear(base, skeleton=SKEL, train=[7], rngs=nnx.Rngs(0))
