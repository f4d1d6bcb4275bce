"""Device models and the noisy executor: refusals, density matrix vs trajectories, readout."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum import (
    Circuit,
    Gate,
    NoiseSpec,
    NoisyExecutor,
    ansatz_circuit,
    get_device,
    native_counts,
    qnn_circuit,
)
from qtn.quantum.noise import apply_readout, density_probabilities, trajectory_probabilities
from qtn.tn import CircuitSpec


def test_wukong72_grid():
    dev = get_device("wukong72")
    assert dev.n_qubits == 72 and len(dev.edges) == 126
    assert dev.noise.depolarizing_1q == 0.01 and dev.noise.depolarizing_2q == 0.1
    assert dev.native_gates == ("u3", "cz")
    # an even ring embeds in a grid, an odd one does not (the grid is bipartite)
    assert dev.layout(qnn_circuit(8, 1)) is not None
    with pytest.raises(ValueError, match=r"do not embed in device wukong72"):
        dev.check(qnn_circuit(3, 1))


def test_device_refuses_too_many_qubits():
    with pytest.raises(ValueError, match="needs 9 qubits but device linear8 has 8"):
        get_device("linear8").check(qnn_circuit(9, 1))
    chain = ansatz_circuit(CircuitSpec(2), 8)
    assert get_device("linear8").layout(chain) == tuple(range(8)) or get_device(
        "linear8"
    ).layout(chain) == tuple(range(7, -1, -1))
    with pytest.raises(ValueError, match="unknown device"):
        get_device("sycamore")
    with pytest.raises(ValueError, match="readout rows"):
        NoiseSpec(readout=((0.9, 0.2), (0.0, 1.0)))


def test_native_counts_of_the_qnn():
    # a CRZ is two CZs; single-qubit gates between CZs merge into one U3
    counts = native_counts(qnn_circuit(4, 1))
    assert counts["cz"] == 16
    assert counts == native_counts(qnn_circuit(4, 1))  # cached, deterministic


def test_noiseless_device_reproduces_exact(x64):
    c = qnn_circuit(4, 2)
    w = jnp.linspace(-3, 3, c.n_weights)
    x = jnp.ones((2, 4)) * 0.5
    a = c.slot_angles(w, x)
    clean = NoisyExecutor(get_device("ideal"), shots=None)
    from qtn.quantum import exact_probabilities

    np.testing.assert_allclose(
        np.asarray(clean.probabilities(c, a, jax.random.key(0))),
        np.asarray(exact_probabilities(c, a)),
        atol=1e-10,
    )


def test_density_matrix_and_trajectories_agree():
    c = qnn_circuit(4, 1)
    w = jnp.linspace(-2, 2, c.n_weights)
    a = c.slot_angles(w, jnp.array([[0.1, 0.2, 0.3, 0.4]]))
    noise = NoiseSpec(depolarizing_1q=0.05, depolarizing_2q=0.1, amplitude_damping=0.02,
                      phase_damping=0.03)
    dm = np.asarray(density_probabilities(c, a, noise))
    tr = np.asarray(trajectory_probabilities(c, a, noise, jax.random.key(0), 6000))
    assert abs(dm.sum() - 1) < 1e-5 and abs(tr.sum() - 1) < 1e-4
    assert np.abs(dm - tr).max() < 0.02  # Monte-Carlo error ~ sqrt(p / 6000)


def test_single_qubit_depolarizing_convention():
    """X then depolarizing(l): P(0) = l / 2 (qiskit / pyqpanda3 convention)."""
    c = Circuit(1, (Gate("rx", (0,), weight=0),), 1)
    p = density_probabilities(c, jnp.array([[np.pi]]), NoiseSpec(depolarizing_1q=0.3))
    np.testing.assert_allclose(np.asarray(p[0]), [0.15, 0.85], atol=1e-6)


def test_readout_confusion_is_per_qubit():
    probs = jnp.array([[0.0, 1.0, 0.0, 0.0]])  # |01>
    out = np.asarray(apply_readout(probs, ((0.95, 0.05), (0.1, 0.9))))
    np.testing.assert_allclose(out[0], [0.95 * 0.1, 0.95 * 0.9, 0.05 * 0.1, 0.05 * 0.9],
                               atol=1e-7)


def test_noisy_executor_samples_and_checks():
    dev = dataclasses.replace(get_device("wukong72"))
    ex = NoisyExecutor(dev, shots=200)
    c = qnn_circuit(4, 1)
    out = ex.probabilities(c, c.slot_angles(jnp.zeros(c.n_weights), jnp.zeros((3, 4))),
                           jax.random.key(0))
    assert out.shape == (3, 16)
    np.testing.assert_allclose(np.asarray(out.sum(-1)), 1.0, atol=1e-6)
    assert float(out[:, 0].min()) < 1.0  # readout and gate errors move mass off |0000>
    with pytest.raises(ValueError, match="shots must be"):
        NoisyExecutor(dev, shots=0)


def _every_gate_kind_circuit() -> Circuit:
    """3 qubits, every gate kind: merged U3 factors, CZ, CNOT (H CZ H), CRZ (two CZs)."""
    gates = (
        Gate("ry", (0,), weight=0), Gate("rx", (1,), weight=1), Gate("rz", (1,), weight=2),
        Gate("cnot", (0, 1)), Gate("ry", (2,), input=0), Gate("crz", (1, 2), weight=3),
        Gate("cz", (2, 0)), Gate("rx", (0,), weight=4), Gate("ry", (2,), weight=5),
    )
    return Circuit(3, gates, 6, 1)


def test_noiseless_trajectories_equal_the_exact_state(x64):
    """With zero noise every trajectory is the exact state: the scanned step table applies the
    native gates (U3 factors, CZ signs) exactly, for each gate kind."""
    from qtn.quantum import exact_probabilities

    c = _every_gate_kind_circuit()
    a = c.slot_angles(jnp.linspace(-2.5, 2.0, 6), jnp.array([[0.3], [-1.1]]))
    tr = np.asarray(trajectory_probabilities(c, a, NoiseSpec(), jax.random.key(0), 2))
    np.testing.assert_allclose(tr, np.asarray(exact_probabilities(c, a)), atol=1e-12)


def test_trajectories_match_the_density_matrix_on_every_gate_kind():
    c = _every_gate_kind_circuit()
    a = c.slot_angles(jnp.linspace(-2.5, 2.0, 6), jnp.array([[0.3]]))
    noise = NoiseSpec(depolarizing_1q=0.08, depolarizing_2q=0.15, amplitude_damping=0.05,
                      phase_damping=0.04)
    dm = np.asarray(density_probabilities(c, a, noise))
    tr = np.asarray(trajectory_probabilities(c, a, noise, jax.random.key(1), 8000))
    assert np.abs(dm - tr).max() < 0.02  # Monte-Carlo error ~ sqrt(p / 8000) <= 0.006
    # the same key gives the same trajectories; another key other ones
    again = np.asarray(trajectory_probabilities(c, a, noise, jax.random.key(1), 8000))
    other = np.asarray(trajectory_probabilities(c, a, noise, jax.random.key(2), 8000))
    np.testing.assert_array_equal(tr, again)
    assert np.abs(tr - other).max() > 0


def test_trajectory_program_does_not_grow_with_the_circuit():
    """One scanned step, whatever the gate count: the jaxpr of a 12-qubit 4-layer ansatz is
    no larger than that of a 1-layer one (the unrolled simulator grew per gate and channel)."""
    noise = get_device("wukong72").noise

    def eqns(depth: int) -> int:
        c = ansatz_circuit(CircuitSpec(depth), 12)
        a = jnp.zeros((2, c.n_weights + c.n_inputs))
        jaxpr = jax.make_jaxpr(
            lambda x: trajectory_probabilities(c, x, noise, jax.random.key(0), 3))(a)
        return len(jaxpr.eqns)

    assert eqns(4) == eqns(1) < 60
