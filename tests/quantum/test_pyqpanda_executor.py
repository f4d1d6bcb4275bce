"""The pyqpanda3 executor: CPUQVM (exact, seeded and SDK shots, noise), the cloud path up to the
network call with an injected backend object, API keys, and the missing-package error."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum import exact_probabilities, get_device, native_counts, qnn_circuit
from qtn.quantum.config import QuantumConfig, make_executor, make_runner
from qtn.quantum.jobs import CACHE_FILE, ResultCache

core = pytest.importorskip("pyqpanda3.core")

from qtn.quantum.pyqpanda_executor import (  # noqa: E402
    API_KEY_ENV,
    CPUQVMBackend,
    QCloudBackend,
    native_qprogs,
    resolve_api_key,
)

CIRCUIT = qnn_circuit(3, 1)


def _angles(rows, seed=0, circuit=CIRCUIT):
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, (rows, circuit.n_slots))


def test_seeded_counts_repeat_and_follow_the_distribution():
    a = _angles(2)
    b = CPUQVMBackend(shots=4000)
    seeds = np.array([11, 12], np.uint64)
    f1, f2 = b.run_job(CIRCUIT, a, seeds), b.run_job(CIRCUIT, a, seeds)
    assert np.array_equal(f1, f2)
    assert not np.array_equal(f1, b.run_job(CIRCUIT, a, seeds + 1))
    p = np.asarray(exact_probabilities(CIRCUIT, jnp.asarray(a)))
    sigma = np.sqrt(p * (1 - p) / 4000) + 1e-9
    assert np.max(np.abs(f1 - p) / sigma) < 5


def test_cpuqvm_takes_no_seed_so_sdk_counts_differ():
    """What the module docstring states: CPUQVM.run(prog, shots, model) has no seed."""
    assert "seed" not in core.CPUQVM.run.__doc__
    b = CPUQVMBackend(shots=2000, sampling="sdk")
    a = np.repeat(_angles(1), 2, axis=0)
    f = b.run_job(CIRCUIT, a, np.zeros(2, np.uint64))
    assert not np.array_equal(f[0], f[1])  # same circuit, same "seed": other counts
    p = np.asarray(exact_probabilities(CIRCUIT, jnp.asarray(a[:1])))[0]
    assert np.abs(f - p).max() < 0.05


def test_sdk_threads_reach_both_simulators():
    for executor in ("pyqpanda3", "qiskit-aer"):
        assert make_executor(QuantumConfig(executor=executor)).jobs.backend.threads == 1
        ex = make_executor(QuantumConfig(executor=executor, sdk_threads=2))
        assert ex.jobs.backend.threads == 2
    assert "quantum.sdk_threads must be >= 1" in "".join(QuantumConfig(sdk_threads=0).check())
    b = CPUQVMBackend(shots=None, threads=1)  # omp_set_num_threads(1) on this thread
    np.testing.assert_allclose(b.run_job(CIRCUIT, _angles(1), None),
                               exact_probabilities(CIRCUIT, jnp.asarray(_angles(1))), atol=1e-6)


def test_transpiler_leaves_the_native_program_unchanged():
    """pyqpanda3's transpiler (level 0, U3 + CZ, the circuit's ring as topology) keeps qtn's
    native circuit as it is: the noise attaches to the same native gates."""
    from pyqpanda3.transpilation import Transpiler

    c = qnn_circuit(4, 1)
    (prog,) = native_qprogs(c, _angles(1, circuit=c))
    ring = [[q, (q + 1) % 4] for q in range(4)]
    out = Transpiler().transpile(prog, ring, {}, 0, ["U3", "CZ"])
    expected = native_counts(c)
    assert out.count_ops() == prog.count_ops() == {"U3": expected["u3"], "CZ": expected["cz"]}


def test_noisy_cpuqvm_refuses_large_density_matrices():
    b = CPUQVMBackend(device=get_device("wukong72"), shots=100, max_density_qubits=3)
    with pytest.raises(ValueError, match="max_density_qubits=3; use sampling 'sdk'"):
        b.check(qnn_circuit(4, 1))
    with pytest.raises(ValueError, match="do not embed"):  # an odd ring on a grid
        b.check(CIRCUIT)


class FakeCloud:
    """Stands in for ``QCloudService(key).backend(name)``: answers on CPUQVM, no network."""

    def __init__(self, fail=False, never_finishes=False):
        self.fail, self.never_finishes = fail, never_finishes
        self.submitted: list[tuple[int, int, str]] = []
        self.cancelled = []

    def run(self, progs, shots, options):
        self.submitted.append((len(progs), shots, type(options).__name__))
        return FakeJob(self, progs, shots, f"job{len(self.submitted)}")


class FakeJob:
    def __init__(self, cloud, progs, shots, job_id):
        self.cloud, self.progs, self.shots, self.id = cloud, progs, shots, job_id
        self.polls = 0

    def job_id(self):
        return self.id

    def status(self):
        self.polls += 1
        if self.cloud.never_finishes or self.polls < 2:
            return "JobStatus.COMPUTING"
        return "JobStatus.FAILED" if self.cloud.fail else "JobStatus.FINISHED"

    def cancel(self):
        self.cloud.cancelled.append(self.id)
        return True

    def result(self):
        qvm = core.CPUQVM()
        counts = []
        for prog in self.progs:
            assert prog.get_measure_nodes(), "cloud programs must be measured"
            qvm.run(prog, self.shots)
            counts.append(qvm.result().get_counts())
        return FakeResult(counts)


class FakeResult:
    def __init__(self, counts):
        self.counts = counts

    def get_counts_list(self):
        return self.counts

    def error_message(self):
        return "chip under calibration"


def test_cloud_path_up_to_the_network_call(tmp_path):
    cloud = FakeCloud()
    config = QuantumConfig(executor="pyqpanda3", backend="origin_wukong", device="wukong72",
                           shots=3000, job_size=2)
    runner = make_runner(config, run_dir=tmp_path, cloud=cloud)
    ex = runner.executor
    assert ex.jobs.backend.name == "pyqpanda3/origin_wukong" and runner.gradient == (
        "parameter_shift")
    object.__setattr__(ex.jobs.backend, "poll_s", 0.0)
    ex.check(CIRCUIT)  # an odd ring: the cloud routes, only the qubit count is checked
    x = jnp.asarray(_angles(3)[:, :3], jnp.float32)
    w = jnp.zeros(CIRCUIT.n_weights)
    z = jax.jit(lambda w: runner.estimate(CIRCUIT, w, x, measure="z", key=jax.random.key(0)))(w)
    exact = jnp.cos(x)  # zero weights: <Z_i> = cos(x_i)
    assert float(jnp.abs(z - exact).max()) < 0.1
    # two jobs of at most job_size=2 circuits, in flight together: submission order is not fixed
    assert sorted(cloud.submitted) == [(1, 3000, "QCloudOptions"), (2, 3000, "QCloudOptions")]
    cache = ResultCache(tmp_path / CACHE_FILE)
    assert len(cache) == 3


def test_cloud_failures_and_timeouts_name_the_job():
    failing = QCloudBackend(FakeCloud(fail=True), "origin_wukong", 100, poll_s=0.0)
    with pytest.raises(RuntimeError, match="cloud job job1 failed: chip under calibration"):
        failing.run_job(CIRCUIT, _angles(1), None, None)
    stuck_cloud = FakeCloud(never_finishes=True)
    stuck = QCloudBackend(stuck_cloud, "origin_wukong", 100, poll_s=0.001)
    with pytest.raises(TimeoutError, match="cloud job job1 not finished after 0.01 s"):
        stuck.run_job(CIRCUIT, _angles(1), None, 0.01)
    assert stuck_cloud.cancelled == ["job1"]
    with pytest.raises(ValueError, match="shots must be an integer >= 1"):
        QCloudBackend(FakeCloud(), "origin_wukong", None)


def test_cloud_needs_an_api_key(tmp_path, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=f"set the environment variable {API_KEY_ENV}.*"
                       "quantum.api_key_file"):
        resolve_api_key(None)
    config = QuantumConfig(executor="pyqpanda3", backend="origin_wukong", shots=100)
    with pytest.raises(ValueError, match=API_KEY_ENV):
        config.preflight()
    with pytest.raises(ValueError, match=API_KEY_ENV):
        make_executor(config)  # no cloud object injected: it would connect
    key = tmp_path / "origin.key"
    key.write_text("  abc123\n")
    assert resolve_api_key(key) == "abc123"
    assert resolve_api_key(None, environ={API_KEY_ENV: "xyz"}) == "xyz"
    with pytest.raises(ValueError, match="does not exist"):
        resolve_api_key(tmp_path / "missing.key")
    QuantumConfig(executor="pyqpanda3", backend="origin_wukong", shots=100,
                  api_key_file=str(key)).preflight()
    assert "shots must be an integer >= 1 for a cloud backend" in "".join(
        QuantumConfig(executor="pyqpanda3", backend="origin_wukong", shots=None).check())


@pytest.mark.parametrize(
    "executor, modules, extra",
    [("pyqpanda3", ("pyqpanda3", "pyqpanda3.core"), "qpanda"),
     ("qiskit-aer", ("qiskit_aer",), "qiskit")],
)
def test_missing_sdk_names_the_extra(monkeypatch, executor, modules, extra):
    for m in modules:
        monkeypatch.setitem(sys.modules, m, None)
    with pytest.raises(ImportError, match=rf"pip install 'qtn\[{extra}\]'"):
        make_executor(QuantumConfig(executor=executor))
    with pytest.raises(ImportError, match=rf"qtn\[{extra}\]"):
        QuantumConfig(executor=executor).preflight()


def test_importing_the_sdk_keeps_the_matplotlib_backend():
    """pyqpanda3's import switches matplotlib to Agg (a notebook's inline figures vanish);
    through qtn the backend and the open figures stay. In a
    subprocess: pyqpanda3 is imported there for the first time, and the backend is process
    state."""
    import subprocess

    code = (
        "import matplotlib, matplotlib.pyplot as plt\n"
        "assert matplotlib.get_backend() == 'pdf'\n"
        "plt.figure()\n"
        "from qtn.quantum.host import require\n"
        "require('pyqpanda3.core', executor='pyqpanda3', extra='quantum')\n"
        "print(plt.get_fignums(), matplotlib.get_backend())\n"
    )
    env = {**os.environ, "MPLBACKEND": "pdf"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[1] pdf"
    bare = subprocess.run([sys.executable, "-c", code.replace(
        "from qtn.quantum.host import require\n", "").replace(
        "require('pyqpanda3.core', executor='pyqpanda3', extra='quantum')",
        "import pyqpanda3.core")], capture_output=True, text=True, env=env, timeout=300)
    assert bare.stdout.strip().splitlines()[-1].lower().endswith(" agg")  # what qtn prevents
