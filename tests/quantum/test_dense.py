"""The dense small-circuit simulator equals the fused-block one (values and gradients)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum.circuit import Circuit, Gate, qnn_circuit
from qtn.quantum.dense import DENSE_MAX_QUBITS, dense_eligible, dense_probabilities, gate_runs
from qtn.quantum.executors import exact_probabilities
from qtn.quantum.statevector import simulate_state, state_probabilities


def _reference(circuit, angles):
    return state_probabilities(simulate_state(circuit, angles, shared_rows=False))


def _rows(circuit, key, batch=5):
    """Slot angles with the weight-only slots shared by every row (as slot_angles gives)."""
    kw, kx = jax.random.split(jax.random.key(key))
    w = jax.random.uniform(kw, (circuit.n_weights,), minval=-np.pi, maxval=np.pi)
    x = jax.random.uniform(kx, (batch, circuit.n_inputs), minval=-2.0, maxval=2.0)
    return w, x, circuit.slot_angles(w, x if circuit.n_inputs else None)


def _mixed_circuit():
    """Every gate kind, inputs on RX / RY / RZ, runs of both kinds, a leading shared run."""
    g = [Gate("rx", (0,), weight=0), Gate("cnot", (0, 2)), Gate("ry", (1,), input=0),
         Gate("rz", (2,), input=1), Gate("rx", (0,), input=2), Gate("crz", (1, 0), weight=1),
         Gate("cz", (2, 1)), Gate("rz", (1,), weight=2), Gate("ry", (2,), weight=3),
         Gate("ry", (0,), input=0), Gate("cnot", (2, 1)), Gate("crz", (0, 2), weight=4)]
    return Circuit(3, tuple(g), 5, n_inputs=3, name="mixed")


@pytest.mark.parametrize("circuit", [qnn_circuit(2, 1), qnn_circuit(4, 2), qnn_circuit(3, 3),
                                     _mixed_circuit()], ids=lambda c: c.name)
def test_dense_matches_fused_blocks(circuit):
    _, _, a = _rows(circuit, 0)
    dense, ref = jax.jit(functools.partial(dense_probabilities, circuit)), jax.jit(
        functools.partial(_reference, circuit))  # jitted: op-by-op dispatch is the slow part
    np.testing.assert_allclose(dense(a), ref(a), atol=2e-6)


@pytest.mark.parametrize("circuit", [qnn_circuit(4, 2), _mixed_circuit()], ids=lambda c: c.name)
def test_dense_gradients_match(circuit):
    w, x, _ = _rows(circuit, 1)
    probe = jax.random.normal(jax.random.key(2), (x.shape[0], circuit.dim))

    def loss(sim, w, x):
        return jnp.sum(sim(circuit, circuit.slot_angles(w, x)) * probe)

    got = jax.jit(jax.grad(lambda w, x: loss(dense_probabilities, w, x), argnums=(0, 1)))(w, x)
    want = jax.jit(jax.grad(lambda w, x: loss(_reference, w, x), argnums=(0, 1)))(w, x)
    for g, r in zip(got, want, strict=True):
        np.testing.assert_allclose(g, r, atol=5e-5)


def test_exact_executor_takes_the_dense_path_for_small_circuits_only():
    small, big = qnn_circuit(4, 1), qnn_circuit(DENSE_MAX_QUBITS + 1, 1)
    assert dense_eligible(small) and not dense_eligible(big)
    lowered = jax.jit(lambda a: exact_probabilities(small, a, shared_rows=True)).lower(
        _rows(small, 3)[2]).as_text()
    generic = jax.jit(lambda a: exact_probabilities(small, a)).lower(_rows(small, 3)[2]).as_text()
    assert len(lowered) < len(generic)  # a different (smaller) program
    _, _, a = _rows(big, 4, batch=2)
    np.testing.assert_allclose(exact_probabilities(big, a, shared_rows=True),
                               _reference(big, a), atol=2e-6)


def test_runs_split_on_inputs_and_bad_circuits_are_refused():
    runs = gate_runs(qnn_circuit(2, 2))
    assert [r.per_row for r in runs] == [True, False, True, False]
    cnot_input = Circuit(2, (Gate("crz", (0, 1), input=0),), 0, n_inputs=1, name="crz_in")
    assert not dense_eligible(cnot_input)
    with pytest.raises(ValueError, match="crz_in: dense simulation needs"):
        dense_probabilities(cnot_input, jnp.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"expected \(batch, 10\)"):
        dense_probabilities(qnn_circuit(2, 1), jnp.zeros((3, 5)))
