"""Circuit templates and the fused state-vector simulator against independent references
(qtn.tn's gate-by-gate circuit state, quimb's own gate library)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import quimb.tensor as qtensor

from qtn.quantum import (
    Circuit,
    Gate,
    ansatz_circuit,
    probabilities,
    qnn_circuit,
    simulate,
    z_expectations,
)
from qtn.quantum.statevector import compile_blocks
from qtn.tn import CircuitSpec, circuit_state


@pytest.mark.parametrize("ansatz", ["hea", "general"])
@pytest.mark.parametrize("entangler", ["cz", "cnot"])
@pytest.mark.parametrize("pattern", ["chain", "brickwork"])
def test_ansatz_circuit_matches_tn_circuit_state(ansatz, entangler, pattern):
    spec = CircuitSpec(3, ansatz, entangler, pattern, readout="probs")
    n = 5
    angles = np.random.default_rng(1).uniform(-np.pi, np.pi, spec.angle_shape(n))
    circuit = ansatz_circuit(spec, n)
    assert circuit.n_weights == angles.size
    psi = simulate(circuit, circuit.slot_angles(jnp.asarray(angles.reshape(-1), jnp.float32)))
    ref = circuit_state(spec, jnp.asarray(angles, jnp.float32), n).reshape(-1)
    assert psi.shape == (1, 2**n)
    assert float(jnp.max(jnp.abs(psi[0] - ref))) < 1e-6


def _quimb_state(circuit: Circuit, weights, inputs_row) -> np.ndarray:
    qc = qtensor.Circuit(circuit.n_qubits)
    for g in circuit.gates:
        angle = (weights[g.weight] if g.weight >= 0 else 0.0) + (
            inputs_row[g.input] if g.input >= 0 else 0.0
        )
        if g.kind.parameterized:
            qc.apply_gate(g.name.upper(), angle, *g.qubits)
        else:
            qc.apply_gate(g.name.upper(), *g.qubits)
    return qc.to_dense().reshape(-1)


@pytest.mark.parametrize("n, layers", [(2, 1), (3, 2), (4, 3)])
def test_qnn_matches_quimb_on_random_inputs(n, layers, x64):
    rng = np.random.default_rng(n)
    circuit = qnn_circuit(n, layers)
    assert circuit.n_weights == 4 * n * layers and circuit.n_inputs == n
    w = rng.uniform(-np.pi, np.pi, circuit.n_weights)
    x = rng.normal(size=(6, n))
    psi = np.asarray(simulate(circuit, circuit.slot_angles(jnp.asarray(w), jnp.asarray(x))))
    for b in range(6):
        np.testing.assert_allclose(psi[b], _quimb_state(circuit, w, x[b]), atol=1e-12)


def test_qnn_gate_layout_and_blocks():
    c = qnn_circuit(4, 2)
    # per layer: 4 encodings, 4 CRZ, 4 RY, 4 CRZ, 4 RY
    assert len(c.gates) == 40 and c.n_slots == 40 and c.two_qubit_gates() == 16
    assert [g.qubits for g in c.gates[4:8]] == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert [g.qubits for g in c.gates[12:16]] == [(0, 3), (1, 0), (2, 1), (3, 2)]
    assert [g.input for g in c.gates[20:24]] == [0, 1, 2, 3]  # re-uploaded in layer 2
    # the last RY of layer 1 fuses with layer 2's encoding: 5 + 4 blocks, not 10
    assert [b.action for b in compile_blocks(c)] == [
        "rotation", "diagonal", "rotation", "diagonal", "rotation",
        "diagonal", "rotation", "diagonal", "rotation",
    ]


def test_measurements_are_consistent():
    c = qnn_circuit(3, 2)
    w = jnp.linspace(-1.0, 1.0, c.n_weights)
    x = jnp.ones((2, 3)) * 0.3
    p = probabilities(simulate(c, c.slot_angles(w, x)))
    np.testing.assert_allclose(np.asarray(p.sum(-1)), 1.0, atol=1e-6)
    z = z_expectations(p)
    # <Z_0> = P(q0 = 0) - P(q0 = 1); qubit 0 is the most significant bit
    np.testing.assert_allclose(np.asarray(z[:, 0]), np.asarray(p[:, :4].sum(-1) - p[:, 4:].sum(-1)),
                               atol=1e-6)


@pytest.mark.parametrize(
    "gates, message",
    [
        ((Gate("cz", (0, 0)),), "distinct"),
        ((Gate("ry", (3,), weight=0),), "outside"),
        ((Gate("ry", (0,)),), "no source"),
        ((Gate("ry", (0,), weight=5),), "reads weight 5"),
        ((Gate("cz", (0, 1), weight=0),), "takes no angle"),
        ((Gate("swap", (0, 1)),), "unknown gate"),
    ],
)
def test_bad_circuits_are_refused(gates, message):
    with pytest.raises(ValueError, match=message):
        Circuit(2, gates, n_weights=1)


def test_slot_angles_checks_shapes():
    c = qnn_circuit(2, 1)
    with pytest.raises(ValueError, match=r"expected \(8,\)"):
        c.slot_angles(jnp.zeros(3), jnp.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"expected \(batch, 2\)"):
        c.slot_angles(jnp.zeros(8), jnp.zeros((1, 3)))
    with pytest.raises(ValueError, match="needs r >= 2"):
        qnn_circuit(1, 1)


def test_simulate_is_jittable_and_batched():
    c = qnn_circuit(3, 1)
    f = jax.jit(lambda w, x: simulate(c, c.slot_angles(w, x)))
    out = f(jnp.zeros(c.n_weights), jnp.zeros((5, 3)))
    assert out.shape == (5, 8)
    np.testing.assert_allclose(np.abs(np.asarray(out[:, 0])), 1.0, atol=1e-6)  # identity
