"""The quantum: config section, runners, and the run-time tracker."""

import jax
import jax.numpy as jnp
import pytest

from qtn.quantum import SampledExecutor, Tracker, estimate, qnn_circuit
from qtn.quantum.config import QuantumConfig, make_runner
from qtn.quantum.gradients import shifted_circuits


def test_config_errors_name_keys():
    errors = QuantumConfig(executor="qpu", gradient="magic", shots=0, device="x").check()
    text = "\n".join(errors)
    for fragment in ("quantum.executor", "quantum.gradient", "quantum.shots", "unknown device"):
        assert fragment in text
    assert "needs executor 'exact'" in "\n".join(
        QuantumConfig(executor="sampled", gradient="autodiff").check()
    )
    assert "unknown noise key" in "\n".join(
        QuantumConfig(executor="noisy", device="wukong72", noise={"t1": 3}).check()
    )


def test_make_runner_defaults():
    assert make_runner(QuantumConfig()).gradient == "autodiff"
    r = make_runner(QuantumConfig(executor="noisy", device="wukong72",
                                  noise={"depolarizing_2q": 0.05}))
    assert r.gradient == "parameter_shift" and r.needs_key
    assert r.executor.device.noise.depolarizing_2q == 0.05
    assert r.executor.device.noise.depolarizing_1q == 0.01


def test_tracker_counts_circuits_distinct_shots_and_jobs():
    tracker = Tracker(job_size=4)
    ex = SampledExecutor(shots=10, tracker=tracker)
    c = qnn_circuit(2, 1)
    x = jnp.array([[0.1, 0.2], [0.1, 0.2], [0.3, 0.4]])  # two distinct tokens

    @jax.jit
    def loss(w, key):
        return jnp.sum(estimate(ex, c, w, x, measure="z", gradient="parameter_shift", key=key))

    loss(jnp.zeros(c.n_weights), jax.random.key(0))
    fwd = tracker.take()
    assert fwd == {"calls": 1, "circuits": 3, "distinct_circuits": 2, "shots": 20, "jobs": 1,
                   "cache_hits": 0, "jobs_submitted": 0}
    jax.grad(loss)(jnp.zeros(c.n_weights), jax.random.key(0))
    step = tracker.take()
    s = shifted_circuits(c)
    assert step["circuits"] == 3 + 3 * s
    assert step["distinct_circuits"] == 2 + 2 * s
    assert tracker.totals["circuits"] == 3 + 3 + 3 * s


def test_runner_estimate_needs_key_for_sampling():
    r = make_runner(QuantumConfig(executor="sampled", shots=5))
    c = qnn_circuit(2, 1)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        r.estimate(c, jnp.zeros(c.n_weights), jnp.zeros((1, 2)), measure="z")
