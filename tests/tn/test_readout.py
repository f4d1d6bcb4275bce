"""Measured readouts (probs / expval): the core against quimb's statevector and expectation
values, the skeleton's qubit counts and checks, the layer views, and every plan strategy
against the dense reference (values and gradients) on a network mixing both readouts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.contract import get_plan
from qtn.contract import plan as plan_module
from qtn.tn import CircuitSpec, circuit_core, hybrid_skeleton, init_params, layer_network, to_dense
from qtn.tn.ansatz import quimb_circuit
from qtn.tn.readout import readout_map, z_string_expectations

# Middle core (2, 4, 2, 2): 32 entries -> a 5-qubit circuit; as a unitary it would be 8 x 4.
SMALL = dict(in_dims=(2, 4, 2), out_dims=(4, 2, 2), bond=2)


def _skel(readout, ansatz="hea", depth=3):
    spec = CircuitSpec(depth, ansatz=ansatz, readout=readout)
    return hybrid_skeleton(SMALL["in_dims"], SMALL["out_dims"], SMALL["bond"], {1: spec})


@pytest.mark.parametrize("ansatz", ["hea", "general"])
def test_probs_core_is_affine_map_of_quimb_probabilities(ansatz):
    skel = _skel("probs", ansatz)
    assert skel.n_qubits(1) == 5 and skel.param_shapes()["angles1"][:2] == (3, 5)
    params = init_params(skel, jax.random.key(0))
    core = np.asarray(circuit_core(skel, params, 1))
    assert core.shape == skel.core_shape(1) and core.dtype == np.float32
    psi = quimb_circuit(skel.circuit_at(1), np.asarray(params["angles1"]), 5).psi.to_dense()
    probs = np.abs(np.asarray(psi).reshape(-1)) ** 2
    expected = skel.core_std(1) * (32 * probs - 1)
    np.testing.assert_allclose(core.reshape(-1), expected, atol=1e-5)
    assert abs(core.sum()) < 1e-4  # sum_k p_k = 1: the affine map centres the core exactly


def test_expval_core_holds_quimb_z_expectations():
    skel = _skel("expval", "general")
    params = init_params(skel, jax.random.key(1))
    core = np.asarray(circuit_core(skel, params, 1)).reshape(-1)
    scale = skel.core_std(1) * 32**0.5
    circ = quimb_circuit(skel.circuit_at(1), np.asarray(params["angles1"]), 5)
    assert core[0] == pytest.approx(scale)  # <Z^0> = <I> = 1
    z = np.array([[1, 0], [0, -1]])
    for q in range(5):  # qubit 0 is the most significant bit of the flat index
        expected = float(np.real(circ.local_expectation(z, q)))
        assert core[2 ** (4 - q)] / scale == pytest.approx(expected, abs=1e-5)


def test_z_strings_are_a_walsh_hadamard_transform():
    p = jax.random.uniform(jax.random.key(2), (8,))
    signs = np.array([[(-1) ** bin(s & k).count("1") for k in range(8)] for s in range(8)])
    np.testing.assert_allclose(z_string_expectations(p), signs @ np.asarray(p), atol=1e-6)
    with pytest.raises(ValueError, match="'unitary' is not measured"):
        readout_map("unitary", p, 1.0)


def test_skeleton_qubits_and_errors():
    dims = SMALL["in_dims"], SMALL["out_dims"], SMALL["bond"]
    with pytest.raises(ValueError, match="8 inputs x 4 outputs.*measured readout"):
        hybrid_skeleton(*dims, {1: CircuitSpec(2)})
    with pytest.raises(ValueError, match="asks for 3 qubits but the core's legs give 5"):
        hybrid_skeleton(*dims, {1: CircuitSpec(2, readout="probs", qubits=3)})
    with pytest.raises(ValueError, match="not a power of two"):
        hybrid_skeleton((3, 4, 2), (4, 4, 2), 4, {0: CircuitSpec(2, readout="probs")})
    assert hybrid_skeleton(*dims, {1: CircuitSpec(2, readout="probs", qubits=5)}).n_qubits(1) == 5


MIXED = hybrid_skeleton(
    (2, 4, 4, 2),
    (2, 4, 4, 2),
    4,
    {1: CircuitSpec(2), 2: CircuitSpec(2, ansatz="general", readout="probs")},
)


def test_layer_view_keeps_measured_site_whole():
    kinds = [(t.kind, t.site) for t in layer_network(MIXED, 3, "qubit").tensors]
    assert ("site", 2) in kinds and not any(k in ("rot", "ent") for k, s in kinds if s == 2)
    assert any(k == "ent" for k, s in kinds if s == 1)  # the unitary site's gates stay


@pytest.mark.parametrize(
    ("strategy", "layered_max"),
    [("split", 16), ("whole-flops", 16), ("whole-combo", 0), ("dense", 0), ("split", 0)],
)
def test_plans_match_dense_values_and_gradients(tmp_path, monkeypatch, strategy, layered_max):
    """layered_max 0: the measured site's state comes from a cotengra path over its gates
    (what circuits above MEASURED_LAYERED_MAX_QUBITS use), else from ``layered_state``."""
    monkeypatch.setattr(plan_module, "MEASURED_LAYERED_MAX_QUBITS", layered_max)
    params = init_params(MIXED, jax.random.key(3))
    x = jax.random.normal(jax.random.key(4), (3, MIXED.d_in))
    plan = get_plan(MIXED, 3, cache_dir=tmp_path, strategy=strategy)
    assert 2 in plan.site_steps  # measured sites are always contracted first
    assert (plan.site_steps[2].amplitudes is None) == (layered_max > 0)

    def via_plan(p):
        return jnp.sum(jnp.sin(plan.apply(p, x)))

    def via_dense(p):
        return jnp.sum(jnp.sin(x @ to_dense(MIXED, p)))

    np.testing.assert_allclose(jax.jit(via_plan)(params), jax.jit(via_dense)(params), rtol=1e-4)
    g_plan, g_dense = jax.jit(jax.grad(via_plan))(params), jax.jit(jax.grad(via_dense))(params)
    for name in params:
        np.testing.assert_allclose(g_plan[name], g_dense[name], rtol=2e-3, atol=2e-4)
    assert float(jnp.abs(g_plan["angles2"]).max()) > 0


def test_parameter_shift_rule_gives_the_autodiff_gradient():
    """Probabilities are what hardware measures: their angle derivatives follow the two-term
    parameter-shift rule d p / d theta = [p(theta + pi/2) - p(theta - pi/2)] / 2 (RY gates)."""
    skel = _skel("probs", depth=2)
    params = init_params(skel, jax.random.key(5))

    def entry(a):
        return circuit_core(skel, {"angles1": a}, 1).reshape(-1)[7]

    angles = params["angles1"]
    auto = jax.grad(entry)(angles)
    shift = np.zeros(angles.shape)
    for idx in np.ndindex(*angles.shape):
        plus = entry(angles.at[idx].add(np.pi / 2))
        minus = entry(angles.at[idx].add(-np.pi / 2))
        shift[idx] = (plus - minus) / 2
    np.testing.assert_allclose(auto, shift, atol=1e-5)
    assert np.abs(shift).max() > 1e-3
