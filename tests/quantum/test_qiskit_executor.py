"""The qiskit-aer executor: exact, seeded and Aer-sampled counts, the noise model's structure."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum import exact_probabilities, get_device, qnn_circuit
from qtn.quantum.config import QuantumConfig, make_runner

pytest.importorskip("qiskit_aer")

from qtn.quantum.qiskit_executor import AerBackend, aer_noise_model  # noqa: E402

CIRCUIT = qnn_circuit(3, 1)


def _angles(rows, seed=0):
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, (rows, CIRCUIT.n_slots))


@pytest.mark.parametrize("sampling", ["seeded", "sdk"])
def test_counts_are_per_circuit_and_reproducible(sampling):
    """The same circuit with the same seed gets the same counts whatever job it is in."""
    a = _angles(2)
    b = AerBackend(shots=3000, sampling=sampling)
    seeds = np.array([5, 6], np.uint64)
    both = b.run_job(CIRCUIT, a, seeds)
    alone = b.run_job(CIRCUIT, a[1:], seeds[1:])
    np.testing.assert_array_equal(both[1], alone[0])
    assert not np.array_equal(alone, b.run_job(CIRCUIT, a[1:], seeds[1:] + 1))
    p = np.asarray(exact_probabilities(CIRCUIT, jnp.asarray(a)))
    assert np.max(np.abs(both - p) / (np.sqrt(p * (1 - p) / 3000) + 1e-9)) < 5


def test_noise_model_matches_qtn_conventions():
    """Depolarizing l as (1 - l) rho + l I/2 (identity weight 1 - 3l/4), on each CZ qubit
    independently (identity weight of the pair (1 - 3l/4)^2), readout rows P(read j | i)."""
    noise = get_device("wukong72").noise
    errors = {e["operations"][0]: e for e in aer_noise_model(noise).to_dict()["errors"]}
    assert sorted(errors) == ["cz", "measure", "u", "u3"]
    assert errors["u"]["probabilities"][0] == pytest.approx(1 - 0.75 * 0.01)
    assert errors["cz"]["probabilities"][0] == pytest.approx((1 - 0.75 * 0.1) ** 2)
    assert len(errors["cz"]["probabilities"]) == 16  # products of the two qubits' Paulis
    assert errors["measure"]["probabilities"] == [[0.95, 0.05], [0.10, 0.90]]
    no_readout = aer_noise_model(noise, readout=False).to_dict()["errors"]
    assert all(e["type"] == "qerror" for e in no_readout)


def test_aer_executor_trains_through_jit():
    runner = make_runner(QuantumConfig(executor="qiskit-aer", shots=2000))
    assert runner.executor.jobs.backend.name.startswith("qiskit-aer/aer/ideal/noiseless")
    x = jnp.asarray(_angles(2)[:, :3], jnp.float32)

    def loss(w):
        z = runner.estimate(CIRCUIT, w, x, measure="z", key=jax.random.key(0))
        return jnp.sum(z)

    w = jnp.full((CIRCUIT.n_weights,), 0.3, jnp.float32)
    g = jax.jit(jax.grad(loss))(w)
    from qtn.quantum import ExactExecutor, estimate

    ref = jax.grad(lambda w: jnp.sum(estimate(ExactExecutor(), CIRCUIT, w, x, measure="z")))(w)
    assert float(jnp.abs(g - ref).max()) < 0.15  # parameter shift from 2000-shot estimates
    assert float(jnp.abs(g - ref).max()) > 0.0
