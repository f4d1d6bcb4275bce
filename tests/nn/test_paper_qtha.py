"""QTHALinear (the paper's QTHA): exact identity at init for every arch, the branch against a
dense numpy reference, the QNN against quimb, parameter shift through the layer equals
autodiff, hand-counted parameters, the authors' initialisation, merge only when linear."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import quimb.tensor as qtensor
from flax import nnx

from qtn.nn.linear import Linear
from qtn.nn.paper_qtha import ARCHS, QTHALinear
from qtn.nn.quantum import configure_quantum
from qtn.nn.variables import AdapterParam, AngleParam, CoreParam
from qtn.quantum.config import QuantumConfig, make_runner
from qtn.tn import hybrid_skeleton, mpo_to_dense

D_IN, D_OUT, BOTTLENECK, R, LAYERS = 32, 16, 16, 3, 2
# MPO_A 32 -> 16 as (8, 4) -> (4, 4), MPO_B 16 -> 16 as (4, 4) -> (4, 4), TT ranks (1, 4, 1)
MPO_A = hybrid_skeleton((8, 4), (4, 4), (4,))
MPO_B = hybrid_skeleton((4, 4), (4, 4), (4,))


def _layer(arch="ABC", dtype=jnp.float32, seed=1, **kw):
    base = Linear(D_IN, D_OUT, use_bias=True, param_dtype=dtype, dtype=dtype, rngs=nnx.Rngs(0))
    base.bias[...] = jnp.linspace(-1.0, 1.0, D_OUT, dtype=dtype)
    mpos = dict(mpo_a=MPO_A, mpo_b=MPO_B) if "A" in arch else {}
    layer = QTHALinear(
        base, r=R, alpha=2.0 * R, arch=arch, qnn_layers=LAYERS, **mpos, **kw, rngs=nnx.Rngs(seed)
    )
    return base, layer


def _perturb(layer, seed=5, scale=0.3):
    key = jax.random.key(seed)
    for _, var in nnx.to_flat_state(nnx.state(layer, AdapterParam)):
        key, sub = jax.random.split(key)
        var[...] = var[...] + scale * jax.random.normal(sub, var[...].shape, var[...].dtype)


def _x(shape=(2, 3, D_IN), dtype=jnp.float32):
    return jax.random.normal(jax.random.key(2), shape, dtype)


def _np(v):
    return np.asarray(v[...], np.float64)


def _qnn_reference(h_row, angles, r):
    """<Z_i> of the paper's circuit built gate by gate in quimb from its description."""
    qc = qtensor.Circuit(r)
    for layer in range(angles.shape[0]):
        for i in range(r):
            qc.apply_gate("RY", h_row[i], i)
        for i in range(r):
            qc.apply_gate("CRZ", angles[layer, 0, i], i, (i + 1) % r)
        for i in range(r):
            qc.apply_gate("RY", angles[layer, 1, i], i)
        for i in range(r):
            qc.apply_gate("CRZ", angles[layer, 2, i], i, (i - 1) % r)
        for i in range(r):
            qc.apply_gate("RY", angles[layer, 3, i], i)
    p = np.abs(qc.to_dense().reshape(-1)) ** 2
    bits = (np.arange(2**r)[:, None] >> (r - 1 - np.arange(r))[None, :]) & 1
    return p @ (1 - 2 * bits)


def _dense_reference(layer, x2):
    """Δ(x) / s from dense numpy matrices (MPOs densified), wired as the authors' forward."""
    arch = layer.arch
    a = x2
    if "A" in arch:
        cores = [_np(getattr(layer, f"mpo_a{k}")) for k in range(2)]
        a = x2 @ np.asarray(mpo_to_dense(cores))
    if arch == "A":
        cores = [_np(getattr(layer, f"mpo_b{k}")) for k in range(2)]
        return a @ np.asarray(mpo_to_dense(cores))
    h = a @ _np(layer.mlp_a)
    if "C" in arch:
        angles = _np(layer.qnn_angles)
        q = np.stack([_qnn_reference(row, angles, R) for row in h])
        z = q @ _np(layer.qw) + (h @ _np(layer.cw) if "B" in arch else 0.0)
    else:
        z = h @ _np(layer.cw)
    u = z @ _np(layer.mlp_b)
    if "A" in arch:
        cores = [_np(getattr(layer, f"mpo_b{k}")) for k in range(2)]
        u = u @ np.asarray(mpo_to_dense(cores))
    return u


@pytest.mark.parametrize("arch", ARCHS)
def test_exact_identity_at_init_then_branch_matches_dense_reference(arch, x64):
    base, layer = _layer(arch, jnp.float64)
    x = _x(dtype=jnp.float64)
    np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(base(x)))  # exactly
    _perturb(layer)
    x2 = np.asarray(x, np.float64).reshape(-1, D_IN)
    got = np.asarray(layer(x) - base(x)).reshape(-1, D_OUT)
    want = layer.scale * _dense_reference(layer, x2)
    assert float(np.abs(want).max()) > 1e-2  # the perturbed branch is not trivially zero
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("arch", ARCHS)
def test_merge_only_for_linear_archs(arch):
    base, layer = _layer(arch)
    _perturb(layer)
    x = _x()
    if "C" in arch:
        assert "nonlinear in x" in layer.merge_error()
        with pytest.raises(ValueError, match=f"arch '{arch}'.*nonlinear in x"):
            layer.delta_weight()
    else:
        assert layer.merge_error() is None
        folded = base(x) + x @ layer.delta_weight()
        np.testing.assert_allclose(folded, layer(x), rtol=1e-4, atol=1e-4)


def test_qnn_equals_quimb_on_random_inputs(x64):
    _, layer = _layer("ABC", jnp.float64)
    h = np.random.default_rng(0).normal(size=(5, R)) * 2.0
    q = np.asarray(layer.qnn(jnp.asarray(h)))
    angles = _np(layer.qnn_angles)
    assert q.shape == (5, R) and angles.shape == (LAYERS, 4, R)
    ((label, circuit, per_token),) = layer.circuits()
    assert per_token == 1 and circuit.n_weights == angles.size
    np.testing.assert_array_equal(np.asarray(layer.circuit_weights()[label]), angles.reshape(-1))
    assert layer.circuit_observables() == {label: "z"}  # what qtn export records
    for b in range(5):
        np.testing.assert_allclose(q[b], _qnn_reference(h[b], angles, R), atol=1e-12)


def test_parameter_shift_through_the_layer_equals_autodiff(x64):
    _, layer = _layer("ABC", jnp.float64)
    _perturb(layer)
    shifted = nnx.clone(layer)
    paths = configure_quantum(shifted, make_runner(QuantumConfig(gradient="parameter_shift")))
    assert paths == [""] and shifted.runner.gradient == "parameter_shift"
    assert layer.runner.gradient == "autodiff"
    x = _x((7, D_IN), jnp.float64)
    weights = jnp.cos(jnp.arange(7 * D_OUT, dtype=jnp.float64)).reshape(7, D_OUT)

    def loss(m, x):
        return jnp.sum(m(x) * weights)

    # jitted: op-by-op dispatch of the shifted circuits is the slow part otherwise
    grad = nnx.jit(nnx.grad(loss, argnums=(nnx.DiffState(0, AdapterParam), 1)))
    (g_ref, gx_ref), (g_ps, gx_ps) = grad(layer, x), grad(shifted, x)
    ref = dict(nnx.to_flat_state(g_ref))
    ps = dict(nnx.to_flat_state(g_ps))
    assert set(ref) == set(ps) and ("qnn_angles",) in ref
    for name, value in ref.items():
        diff = float(jnp.max(jnp.abs(ps[name][...] - value[...])))
        assert diff < 1e-6, name
        assert float(jnp.max(jnp.abs(value[...]))) > 1e-6, name  # every block gets a gradient
    assert float(jnp.max(jnp.abs(gx_ps - gx_ref))) < 1e-6


def _mpo_params(in_dims, out_dims, ranks):
    pairs = enumerate(zip(in_dims, out_dims, strict=True))
    return sum(ranks[k] * i * j * ranks[k + 1] for k, (i, j) in pairs)


HAND_COUNTS = {
    # MPO_A: 1*8*4*4 + 4*4*4*1 = 192; MPO_B: 1*4*4*4 + 4*4*4*1 = 128; r = 3, L = 2
    "A": 192 + 128,
    "B": D_IN * R + R * R + R * D_OUT,
    "AB": 192 + BOTTLENECK * R + R * R + R * BOTTLENECK + 128,
    "BC": D_IN * R + R * R + R * R + 4 * R * LAYERS + R * D_OUT,
    "C": D_IN * R + R * R + 4 * R * LAYERS + R * D_OUT,
    "ABC": 192 + BOTTLENECK * R + 2 * R * R + 4 * R * LAYERS + R * BOTTLENECK + 128,
}


@pytest.mark.parametrize("arch", ARCHS)
def test_param_counts_and_kinds(arch):
    assert _mpo_params((8, 4), (4, 4), (1, 4, 1)) == 192 == MPO_A.num_params()
    _, layer = _layer(arch)
    assert layer.num_trainable() == HAND_COUNTS[arch]
    angles = nnx.state(layer, AngleParam)
    n_angles = sum(v.size for v in jax.tree.leaves(angles))
    assert n_angles == (4 * R * LAYERS if "C" in arch else 0)
    cores = nnx.state(layer, CoreParam)
    assert sum(v.size for v in jax.tree.leaves(cores)) == HAND_COUNTS[arch] - n_angles


def test_authors_initialisation():
    d = 1024
    base = Linear(d, d, rngs=nnx.Rngs(0))
    mpo_a = hybrid_skeleton((4, 4, 8, 8), (4, 4, 4, 4), (8, 8, 8))
    mpo_b = hybrid_skeleton((4, 4, 4, 4), (4, 4, 8, 8), (8, 8, 8))
    layer = QTHALinear(base, r=8, alpha=16.0, mpo_a=mpo_a, mpo_b=mpo_b, rngs=nnx.Rngs(3))
    assert layer.qnn_layers == 8 and layer.scale == 2.0 and layer.bottleneck == 256
    assert not np.any(_np(layer.mpo_b3)) and np.all(_np(layer.mpo_b2) != 0)
    for core, (a, i) in ((layer.mpo_a2, (8, 8)), (layer.mpo_b1, (8, 4))):
        assert np.std(_np(core)) == pytest.approx(math.sqrt(2 / (a * i)), rel=0.1)
    for w, fan_in in ((layer.mlp_a, 256), (layer.mlp_b, 8), (layer.cw, 8), (layer.qw, 8)):
        bound = math.sqrt(6 / fan_in)
        assert np.abs(_np(w)).max() <= bound and np.abs(_np(w)).max() > 0.8 * bound
    angles = _np(layer.qnn_angles)
    assert angles.shape == (8, 4, 8) and np.abs(angles).max() <= np.pi
    assert np.abs(angles).max() > 0.9 * np.pi
    # without MPOs, MLP_B starts at zero instead (B, BC, C)
    _, bc = _layer("BC")
    assert not np.any(_np(bc.mlp_b)) and np.any(_np(bc.mlp_a))


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(arch="AC"), r"arch must be one of .* got 'AC'"),
        (dict(r=1), "r must be an integer >= 2.*got 1"),
        (dict(mpo_a=None), "needs both MPO skeletons"),
        (dict(mpo_b=hybrid_skeleton((4, 4), (4, 2), (4,))), r"16x8 .*|layer is 32x16"),
        (dict(mpo_b=hybrid_skeleton((8, 4), (4, 4), (4,))), r"MPO_A's output \(16\)"),
    ],
)
def test_bad_layer_arguments(kw, match):
    base = Linear(D_IN, D_OUT, rngs=nnx.Rngs(0))
    args = dict(r=R, alpha=1.0, arch="ABC", mpo_a=MPO_A, mpo_b=MPO_B) | kw
    with pytest.raises(ValueError, match=match):
        QTHALinear(base, **args, rngs=nnx.Rngs(0))


def test_sampled_executor_draws_fresh_shots_per_call():
    """With a shots executor the QNN's <Z_i> are frequencies: close to exact, new keys per call."""
    _, layer = _layer("C")
    _perturb(layer)
    h = jax.random.normal(jax.random.key(4), (64, R))
    exact = np.asarray(layer.qnn(h))
    configure_quantum(layer, make_runner(QuantumConfig(executor="sampled", shots=400)), seed=1)
    first, second = np.asarray(layer.qnn(h)), np.asarray(layer.qnn(h))
    assert not np.array_equal(first, second)  # the shared key stream moved on
    # <Z> from 400 shots: std <= 1 / sqrt(400) = 0.05 per entry
    assert np.abs(first - exact).mean() < 0.05 and np.abs(first - exact).max() < 0.3
    assert np.all(np.abs(first) <= 1.0)
