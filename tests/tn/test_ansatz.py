"""Circuit ansätze: our TN equals quimb's own circuit unitary; spec validation."""

import jax
import numpy as np
import pytest

from qtn.tn import CircuitSpec, circuit_tn, circuit_unitary, layered_unitary, quimb_circuit
from qtn.tn.layered import layered_state
from qtn.tn.params import circuit_state

SPECS = [
    CircuitSpec(3),
    CircuitSpec(2, entangler="cnot", pattern="brickwork"),
    CircuitSpec(2, ansatz="general"),
    CircuitSpec(3, ansatz="general", entangler="cnot", pattern="brickwork"),
]


def _dense(tn, n):
    return np.asarray(tn.to_dense([f"k{q}" for q in range(n)], [f"b{q}" for q in range(n)]))


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_circuit_tn_matches_quimb_unitary(spec, n):
    angles = np.random.default_rng(n).uniform(-np.pi, np.pi, spec.angle_shape(n))
    u_ref = _dense(quimb_circuit(spec, angles, n).get_uni(), n)
    np.testing.assert_allclose(_dense(circuit_tn(spec, angles, n), n), u_ref, atol=1e-5)
    np.testing.assert_allclose(np.asarray(circuit_unitary(spec, angles, n)), u_ref, atol=1e-5)
    np.testing.assert_allclose(u_ref.conj().T @ u_ref, np.eye(2**n), atol=1e-5)


def test_gate_counts_and_dtypes():
    spec = CircuitSpec(3, pattern="brickwork")
    ops = spec.ops(5)
    assert sum(op[0] == "rot" for op in ops) == 15
    assert [op[1:] for op in ops if op[0] == "ent"] == [
        (0, 1),
        (2, 3),
        (1, 2),
        (3, 4),
        (0, 1),
        (2, 3),
    ]
    assert len([op for op in CircuitSpec(2).ops(4) if op[0] == "ent"]) == 6
    angles = jax.numpy.zeros(spec.angle_shape(5))
    assert circuit_tn(spec, angles, 5).dtype == "float32"  # hea: real network
    general = CircuitSpec(1, ansatz="general")
    assert general.angle_shape(5) == (1, 5, 3)
    assert "complex" in str(circuit_tn(general, np.zeros((1, 5, 3), np.float32), 5).dtype)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depth": 0}, "depth must be >= 1, got 0"),
        ({"depth": 1, "ansatz": "qaoa"}, "qaoa"),
        ({"depth": 1, "entangler": "iswap"}, "iswap"),
        ({"depth": 1, "pattern": "ring"}, "ring"),
        ({"depth": 1, "readout": "shots"}, "unknown readout 'shots'"),
        ({"depth": 1, "qubits": 0}, "got 0"),
    ],
)
def test_bad_specs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CircuitSpec(**kwargs)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("n", [1, 2, 5])
def test_layered_unitary_equals_gate_by_gate(spec, n):
    angles = np.random.default_rng(7).uniform(-np.pi, np.pi, spec.angle_shape(n))
    np.testing.assert_allclose(
        np.asarray(layered_unitary(spec, angles, n)),
        np.asarray(circuit_unitary(spec, angles, n)),
        atol=1e-5,
    )


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_layered_state_equals_quimb_statevector(spec, n):
    angles = np.random.default_rng(n).uniform(-np.pi, np.pi, spec.angle_shape(n))
    ref = quimb_circuit(spec, angles, n).psi.to_dense().reshape(-1)
    np.testing.assert_allclose(np.asarray(layered_state(spec, angles, n)), ref, atol=1e-5)


@pytest.mark.parametrize("ansatz", ["hea", "general"])
@pytest.mark.parametrize("entangler", ["cz", "cnot"])
def test_layered_state_gradient_equals_gate_by_gate(ansatz, entangler):
    """Its CNOT layers use a custom VJP (the inverse permutation): check it against autodiff
    through the gates."""
    spec, n = CircuitSpec(2, ansatz=ansatz, entangler=entangler, pattern="brickwork"), 4
    angles = np.random.default_rng(3).uniform(-np.pi, np.pi, spec.angle_shape(n))
    weights = np.random.default_rng(4).standard_normal(2**n)

    def loss(state_fn):
        return lambda a: jax.numpy.sum(weights * jax.numpy.abs(state_fn(spec, a, n)) ** 2)

    np.testing.assert_allclose(
        jax.grad(loss(layered_state))(angles), jax.grad(loss(circuit_state))(angles), atol=1e-5
    )
