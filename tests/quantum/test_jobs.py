"""Jobs, not calls: canonical keys, deduplication, job splitting, the durable cache, retries,
failures with job ids, jobs in flight, and the host executor inside jit (no SDK needed)."""

import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum import (
    HostExecutor,
    JobError,
    JobPolicy,
    JobRunner,
    ResultCache,
    Tracker,
    estimate,
    exact_probabilities,
    qnn_circuit,
)
from qtn.quantum.devices import IDEAL
from qtn.quantum.host import circuit_seed, sample_frequencies_np
from qtn.quantum.jobs import CACHE_FILE, circuit_keys

CIRCUIT = qnn_circuit(2, 1)


def np_probabilities(circuit, angles):
    """A numpy state-vector reference (no JAX inside host callbacks): (B, G) -> (B, 2^n)."""
    n = circuit.n_qubits
    out = []
    for row in np.asarray(angles, np.float64):
        psi = np.zeros((2,) * n, complex)
        psi[(0,) * n] = 1
        slot = 0
        for g in circuit.gates:
            if g.kind.parameterized:
                t = row[slot]
                slot += 1
                c, s = np.cos(t / 2), np.sin(t / 2)
                m = {"ry": [[c, -s], [s, c]], "rx": [[c, -1j * s], [-1j * s, c]],
                     "rz": [[c - 1j * s, 0], [0, c + 1j * s]], "crz": [[c - 1j * s, 0],
                                                                        [0, c + 1j * s]]}[g.name]
            else:
                m = {"cz": [[1, 0], [0, -1]], "cnot": [[0, 1], [1, 0]]}[g.name]
            m = np.asarray(m, complex)
            t_q = g.qubits[-1]
            moved = np.moveaxis(psi, t_q, 0)
            new = np.tensordot(m, moved, axes=(1, 0))
            if len(g.qubits) == 2:  # controlled on qubit g.qubits[0] (index shifted by move)
                ctrl = g.qubits[0] + (1 if g.qubits[0] < t_q else 0)
                idx = [slice(None)] * n
                idx[ctrl] = 0
                new[tuple(idx)] = moved[tuple(idx)]
            psi = np.moveaxis(new, 0, t_q)
        out.append(np.abs(psi.reshape(-1)) ** 2)
    return np.stack(out)


class ExactBackend:
    """A host backend answering with qtn's exact probabilities; records every job."""

    shots = None
    max_in_flight = 1

    def __init__(self, name="fake/exact", fail_first=0, error=None):
        self.name, self.fail_first = name, fail_first
        self.error = error or RuntimeError("flaky")
        self.jobs: list[int] = []
        self.calls = 0

    def check(self, circuit):
        pass

    def run_job(self, circuit, angles, seeds, timeout_s):
        self.calls += 1
        if self.calls <= self.fail_first:
            raise self.error
        self.jobs.append(len(angles))
        return np_probabilities(circuit, angles)

    def describe(self):
        return {}


def _angles(rows, seed=0):
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, (rows, CIRCUIT.n_slots))


def test_numpy_reference_matches_qtn():
    a = _angles(4)
    np.testing.assert_allclose(np_probabilities(CIRCUIT, a),
                               exact_probabilities(CIRCUIT, jnp.asarray(a)), atol=1e-6)


def test_keys_are_canonical_at_fixed_precision():
    a = _angles(3)
    keys = circuit_keys(CIRCUIT, a)
    assert len(set(keys)) == 3 and all(len(k) == 64 for k in keys)
    assert circuit_keys(CIRCUIT, a + 2e-10) == keys  # below ANGLE_DECIMALS
    assert circuit_keys(CIRCUIT, a + 1e-7) != keys
    assert circuit_keys(qnn_circuit(2, 1), a) == keys  # the text, not the object
    other = qnn_circuit(2, 1)
    other = type(other)(2, other.gates[::-1], other.n_weights, other.n_inputs)
    assert circuit_keys(other, a) != keys


def test_dedup_jobs_of_job_size_and_cache_hits(tmp_path):
    backend = ExactBackend()
    tracker = Tracker()
    cache = ResultCache(tmp_path / CACHE_FILE)
    runner = JobRunner(backend, cache, JobPolicy(job_size=4), tracker=tracker)
    a = _angles(10)
    batch = np.concatenate([a, a[:3]])  # 13 circuits, 10 distinct
    out = runner.run(CIRCUIT, batch)
    np.testing.assert_allclose(out, exact_probabilities(CIRCUIT, jnp.asarray(batch)), atol=1e-6)
    assert backend.jobs == [4, 4, 2]
    assert tracker.take()["cache_hits"] == 0 and runner.stats["submitted"] == 3
    again = runner.run(CIRCUIT, np.concatenate([a[5:], _angles(2, seed=1)]))  # 5 cached + 2 new
    assert backend.jobs == [4, 4, 2, 2] and again.shape == (7, 4)
    counts = tracker.take()
    assert counts["cache_hits"] == 5 and counts["jobs_submitted"] == 1
    assert len(cache) == 12


def test_cache_is_durable_across_processes_and_keyed_by_shots_and_backend(tmp_path):
    path = tmp_path / CACHE_FILE
    first = ExactBackend()
    JobRunner(first, ResultCache(path)).run(CIRCUIT, _angles(5))
    cache = ResultCache(path)  # a new connection: what a resumed run opens
    assert cache._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    second = ExactBackend()
    out = JobRunner(second, cache).run(CIRCUIT, _angles(5))
    assert second.jobs == [] and out.shape == (5, 4)
    JobRunner(ExactBackend(name="fake/other"), cache).run(CIRCUIT, _angles(5))
    JobRunner(second, cache, seed=1).run(CIRCUIT, _angles(5))  # the seed changes counts
    assert second.jobs == [5] and len(cache) == 15


def test_failing_job_is_retried_with_backoff():
    backend = ExactBackend(fail_first=2)
    waits = []
    runner = JobRunner(backend, policy=JobPolicy(max_attempts=3, backoff_s=0.5),
                       sleep=waits.append)
    out = runner.run(CIRCUIT, _angles(3))
    assert out.shape == (3, 4) and backend.calls == 3
    assert waits == [0.5, 1.0] and runner.stats["retries"] == 2


def test_job_error_names_the_job_after_max_attempts(tmp_path):
    backend = ExactBackend(fail_first=100, error=TimeoutError("cloud job 7 timed out"))
    runner = JobRunner(backend, ResultCache(tmp_path / CACHE_FILE),
                       JobPolicy(max_attempts=2, backoff_s=0.0))
    with pytest.raises(JobError, match=r"quantum job fake-exact-[0-9a-f]{12} failed after 2 "
                       r"attempt\(s\): TimeoutError: cloud job 7 timed out") as info:
        runner.run(CIRCUIT, _angles(3))
    assert runner.failure is info.value and info.value.attempts == 2
    assert backend.calls == 2


def test_jobs_in_flight_run_concurrently_and_stop_at_a_failure():
    class Slow(ExactBackend):
        max_in_flight = 8

        def __init__(self):
            super().__init__()
            self.active = self.peak = 0
            self.lock = threading.Lock()

        def run_job(self, circuit, angles, seeds, timeout_s):
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            time.sleep(0.05)
            with self.lock:
                self.active -= 1
            return super().run_job(circuit, angles, seeds, timeout_s)

    backend = Slow()
    out = JobRunner(backend, policy=JobPolicy(job_size=2, max_in_flight=3)).run(
        CIRCUIT, _angles(12))
    assert out.shape == (12, 4) and sorted(backend.jobs) == [2] * 6
    assert backend.peak == 3


def test_seeded_sampling_depends_on_circuit_and_run_seed_only():
    key = circuit_keys(CIRCUIT, _angles(1))[0]
    assert circuit_seed(0, key) == circuit_seed(0, key) != circuit_seed(1, key)
    p = np.full((2, 4), 0.25)
    s = np.array([circuit_seed(0, key)] * 2, np.uint64)
    f = sample_frequencies_np(p, 1000, s)
    assert np.array_equal(f[0], f[1]) and f.sum(axis=1).tolist() == [1.0, 1.0]


def test_host_executor_inside_jit_with_parameter_shift(capsys):
    backend = ExactBackend()
    tracker = Tracker()
    runner = JobRunner(backend, policy=JobPolicy(job_size=50), tracker=tracker, progress=True)
    ex = HostExecutor("fake", runner, IDEAL, tracker)
    assert not ex.exact and ex.shots is None
    x = jnp.asarray(_angles(3)[:, :2], jnp.float32)
    w = jnp.asarray(np.random.default_rng(1).normal(size=CIRCUIT.n_weights), jnp.float32)

    def loss(w, ex):
        return jnp.sum(estimate(ex, CIRCUIT, w, x, measure="z", gradient="parameter_shift",
                                key=jax.random.key(0)) ** 2)

    from qtn.quantum import ExactExecutor
    ref = jax.grad(lambda w: loss(w, ExactExecutor()))(w)
    got = jax.jit(jax.grad(lambda w: loss(w, ex)))(w)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert "jobs" in capsys.readouterr().err  # tqdm progress on stderr
    counts = tracker.take()
    assert counts["jobs_submitted"] >= 1 and counts["circuits"] > 3
