"""The ``quantum:`` section of a run config, and the runner every circuit layer holds.

YAML (defaults shown)::

    quantum:
      executor: exact        # exact | sampled | noisy | pyqpanda3 | qiskit-aer
      shots: 1000            # per circuit (sampled, noisy, SDK executors); null on noisy and
                             #   local SDK simulators: the exact (noisy) distribution
      gradient: null         # null = autodiff (exact) / parameter_shift (others);
                             #   or autodiff | parameter_shift | spsa | simulator
      device: ideal          # ideal | linear<n> | wukong72 (noisy and SDK noise models)
      noise: null            # overrides of the device's noise figures, e.g.
                             #   {depolarizing_2q: 0.05, readout: [[0.97, 0.03], [0.05, 0.95]]}
      seed: 0                # the shot-noise key stream (checkpointed: resume continues it)
      trajectories: 100      # noisy executor above max_density_qubits
      max_density_qubits: 10
      spsa_epsilon: 0.1
      job_size: 200          # circuits per job (Origin's cloud limit), for counting and SDK jobs
      track: true            # count circuits / distinct circuits / shots / jobs per step
      shot_time_s: 0.00025   # the bill's QPU time per shot and per job (assumptions: see
      job_overhead_s: 5.0    #   qtn.quantum.bill)
      # SDK executors (pyqpanda3, qiskit-aer; qtn.quantum.host / jobs):
      backend: null          # pyqpanda3: cpuqvm (null) or an Origin cloud backend name, e.g.
                             #   origin_wukong (needs an API key); qiskit-aer: aer (null)
      api_key_file: null     # file holding the Origin cloud key (else $ORIGIN_QC_API_KEY)
      sampling: seeded       # seeded: counts drawn with a seed per circuit (reproducible);
                             #   sdk: the simulator's own shots (pyqpanda3: not seedable)
      max_in_flight: 4       # jobs submitted at once (local simulators run one at a time)
      max_attempts: 4        # tries per job before the run stops with the job id and error
      retry_backoff_s: 2.0   # wait before retry k: retry_backoff_s * 2^(k-1)
      job_timeout_s: 600     # per attempt of a cloud job (null: wait forever)
      sdk_threads: 1         # threads of a local SDK simulator per job (null: its default)
      native: true           # exact executor: the paper QNN's C++ kernel (qtn.quantum.native)
                             #   where it applies; false: the pure-JAX simulator everywhere

Every error is reported before anything is loaded (``check``; ``preflight`` adds what depends
on the machine: the SDK installed, the cloud API key). :class:`CircuitRunner` is the static
(jit-hashable) object a layer calls: the executor plus the gradient rule. SDK executors keep
their durable result cache in the run folder (``make_executor(..., run_dir=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from qtn.quantum.circuit import Circuit
from qtn.quantum.devices import NoiseSpec, get_device
from qtn.quantum.executors import ExactExecutor, NoisyExecutor, SampledExecutor
from qtn.quantum.gradients import GRADIENTS, default_gradient, estimate
from qtn.quantum.host import SAMPLING
from qtn.quantum.tracker import DEFAULT_JOB_SIZE, Tracker

JAX_EXECUTORS = ("exact", "sampled", "noisy")
SDK_EXECUTORS = ("pyqpanda3", "qiskit-aer")
EXECUTORS = JAX_EXECUTORS + SDK_EXECUTORS


@dataclass(frozen=True)
class QuantumConfig:
    """How a run's circuits are executed and differentiated (see the module docstring)."""

    executor: str = "exact"
    shots: int | None = 1000
    gradient: str | None = None
    device: str = "ideal"
    noise: dict | None = None
    seed: int = 0
    trajectories: int = 100
    max_density_qubits: int = 10
    spsa_epsilon: float = 0.1
    job_size: int = DEFAULT_JOB_SIZE
    track: bool = True
    shot_time_s: float = 250e-6
    job_overhead_s: float = 5.0
    backend: str | None = None
    api_key_file: str | None = None
    sampling: str = "seeded"
    max_in_flight: int = 4
    max_attempts: int = 4
    retry_backoff_s: float = 2.0
    job_timeout_s: float | None = 600.0
    sdk_threads: int | None = 1
    native: bool = True

    @property
    def cloud(self) -> bool:
        """True when circuits go to Origin's cloud (pyqpanda3 with a non-local backend)."""
        return self.executor == "pyqpanda3" and self.backend not in (None, "cpuqvm")

    def check(self) -> list[str]:
        """Problems with this section (``[]`` when valid), each naming the key."""
        e = []
        if self.executor not in EXECUTORS:
            e.append(f"quantum.executor must be one of {EXECUTORS}, got {self.executor!r}")
        if self.gradient is not None and self.gradient not in GRADIENTS:
            e.append(f"quantum.gradient must be null or one of {GRADIENTS}, got {self.gradient!r}")
        if self.executor != "exact" and self.gradient == "autodiff":
            e.append(
                f"quantum.gradient 'autodiff' needs executor 'exact' (autodiff through sampling "
                f"is not available on hardware); executor {self.executor!r} takes one of "
                f"{[g for g in GRADIENTS if g != 'autodiff']}"
            )
        if self.shots is None and (self.executor == "sampled" or self.cloud):
            where = "a cloud backend" if self.cloud else f"executor {self.executor!r}"
            e.append(f"quantum.shots must be an integer >= 1 for {where}")
        if self.shots is not None and (isinstance(self.shots, bool) or self.shots < 1):
            e.append(f"quantum.shots must be >= 1 or null, got {self.shots!r}")
        for name in ("trajectories", "job_size", "max_in_flight", "max_attempts"):
            if getattr(self, name) < 1:
                e.append(f"quantum.{name} must be >= 1, got {getattr(self, name)}")
        if self.backend is not None and self.executor not in SDK_EXECUTORS:
            e.append(f"quantum.backend is for the SDK executors {SDK_EXECUTORS}; executor "
                     f"{self.executor!r} takes none, got {self.backend!r}")
        if self.executor == "qiskit-aer" and self.backend not in (None, "aer"):
            e.append(f"quantum.backend for qiskit-aer must be 'aer' (or null), got "
                     f"{self.backend!r}")
        if self.sampling not in SAMPLING:
            e.append(f"quantum.sampling must be one of {SAMPLING}, got {self.sampling!r}")
        if self.retry_backoff_s < 0:
            e.append(f"quantum.retry_backoff_s must be >= 0, got {self.retry_backoff_s}")
        if self.sdk_threads is not None and self.sdk_threads < 1:
            e.append(f"quantum.sdk_threads must be >= 1 or null, got {self.sdk_threads}")
        if self.job_timeout_s is not None and not self.job_timeout_s > 0:
            e.append(f"quantum.job_timeout_s must be > 0 or null, got {self.job_timeout_s}")
        if not isinstance(self.native, bool):
            e.append(f"quantum.native must be true or false, got {self.native!r}")
        if not self.spsa_epsilon > 0:
            e.append(f"quantum.spsa_epsilon must be > 0, got {self.spsa_epsilon}")
        for name in ("shot_time_s", "job_overhead_s"):
            if getattr(self, name) < 0:
                e.append(f"quantum.{name} must be >= 0, got {getattr(self, name)}")
        try:
            self.device_model()
        except (ValueError, TypeError) as err:
            e.append(f"quantum: {err}")
        return e

    def device_model(self):
        """The :class:`~qtn.quantum.devices.Device` (noise overrides applied)."""
        noise = None
        if self.noise is not None:
            base = get_device(self.device).noise
            known = {f.name for f in fields(NoiseSpec)}
            unknown = sorted(set(self.noise) - known)
            if unknown:
                raise ValueError(f"unknown noise key(s) {unknown}; known: {sorted(known)}")
            noise = NoiseSpec(**{**{k: getattr(base, k) for k in known}, **self.noise})
        return get_device(self.device, noise)

    def preflight(self) -> None:
        """What :meth:`check` cannot see from the config alone, checked before a run loads
        anything: the SDK of an SDK executor is installed (ImportError naming the extra), and
        a cloud backend has an API key (ValueError saying how to provide one)."""
        if self.executor == "pyqpanda3":
            from qtn.quantum.host import require
            from qtn.quantum.pyqpanda_executor import EXTRA, resolve_api_key

            require("pyqpanda3.core", executor="pyqpanda3", extra=EXTRA)
            if self.cloud:
                resolve_api_key(self.api_key_file)
        elif self.executor == "qiskit-aer":
            from qtn.quantum.host import require
            from qtn.quantum.qiskit_executor import EXTRA

            require("qiskit_aer", executor="qiskit-aer", extra=EXTRA)

    def job_policy(self):
        """The :class:`~qtn.quantum.jobs.JobPolicy` of this section."""
        from qtn.quantum.jobs import JobPolicy

        return JobPolicy(job_size=self.job_size, max_in_flight=self.max_in_flight,
                         max_attempts=self.max_attempts, backoff_s=self.retry_backoff_s,
                         timeout_s=self.job_timeout_s)

    @property
    def resolved_gradient(self) -> str:
        return self.gradient or ("autodiff" if self.executor == "exact" else "parameter_shift")


@dataclass(frozen=True)
class CircuitRunner:
    """What a circuit layer holds: an executor and its gradient rule (hashable, jit-static).
    ``runner.estimate(circuit, weights, inputs, measure=..., key=...)``."""

    executor: Any
    gradient: str
    spsa_epsilon: float = 0.1

    @property
    def needs_key(self) -> bool:
        """Whether calls need a PRNG key (sampling executors, SPSA)."""
        return not self.executor.exact or self.gradient == "spsa"

    def check(self, circuit: Circuit) -> None:
        """Raise ValueError if the executor cannot run ``circuit`` (qubits, device)."""
        self.executor.check(circuit)

    def estimate(self, circuit: Circuit, weights, inputs=None, *, measure: str, key=None):
        """:func:`qtn.quantum.gradients.estimate` with this runner's executor and rule."""
        return estimate(
            self.executor,
            circuit,
            weights,
            inputs,
            measure=measure,
            gradient=self.gradient,
            key=key,
            spsa_epsilon=self.spsa_epsilon,
        )

    def describe(self) -> dict[str, Any]:
        return {**self.executor.describe(), "gradient": self.gradient}


EXACT_RUNNER = CircuitRunner(ExactExecutor(), "autodiff")


def make_runner(
    config: QuantumConfig,
    tracker: Tracker | None = None,
    run_dir: str | Path | None = None,
    *,
    progress: bool = False,
    cloud: Any = None,
) -> CircuitRunner:
    """The runner for a run's ``quantum:`` section (raises ValueError on a bad section; an SDK
    executor whose package is missing raises ImportError naming the extra to install). See
    :func:`make_executor` for ``run_dir``, ``progress`` and ``cloud``."""
    errors = config.check()
    if errors:
        raise ValueError("; ".join(errors))
    executor = make_executor(config, tracker, run_dir, progress=progress, cloud=cloud)
    return CircuitRunner(executor, config.gradient or default_gradient(executor),
                         config.spsa_epsilon)


def make_executor(
    config: QuantumConfig,
    tracker: Tracker | None = None,
    run_dir: str | Path | None = None,
    *,
    progress: bool = False,
    cloud: Any = None,
):
    """The executor named by ``config.executor``. SDK executors only: ``run_dir`` holds the
    durable result cache (``qtn.quantum.jobs.CACHE_FILE``; None: in memory), ``progress``
    shows their jobs, ``cloud`` replaces the Origin cloud backend object that would be
    connected with the API key (tests inject one that answers locally)."""
    name = config.executor
    if name in SDK_EXECUTORS:
        return make_host_executor(config, tracker, run_dir, progress=progress, cloud=cloud)
    if name == "exact":
        return ExactExecutor(tracker=tracker, native=config.native)
    if name == "sampled":
        return SampledExecutor(shots=config.shots, tracker=tracker)
    if name == "noisy":
        return NoisyExecutor(
            config.device_model(),
            shots=config.shots,
            trajectories=config.trajectories,
            max_density_qubits=config.max_density_qubits,
            tracker=tracker,
        )
    raise ValueError(f"unknown executor {name!r}; choose from {EXECUTORS}")


def make_host_executor(
    config: QuantumConfig,
    tracker: Tracker | None = None,
    run_dir: str | Path | None = None,
    *,
    progress: bool = False,
    cloud: Any = None,
):
    """A :class:`~qtn.quantum.host.HostExecutor` for ``pyqpanda3`` or ``qiskit-aer`` with its
    job runner and result cache (see :func:`make_executor`)."""
    from qtn.quantum.host import HostExecutor
    from qtn.quantum.jobs import CACHE_FILE, JobRunner, ResultCache

    device = config.device_model()
    if config.executor == "qiskit-aer":
        from qtn.quantum.qiskit_executor import AerBackend

        backend = AerBackend(device, config.shots, config.sampling, config.max_density_qubits,
                             config.sdk_threads)
    elif config.cloud:
        from qtn.quantum.pyqpanda_executor import QCloudBackend, connect_cloud, resolve_api_key

        if cloud is None:
            cloud = connect_cloud(config.backend, resolve_api_key(config.api_key_file))
        backend = QCloudBackend(cloud, config.backend, config.shots, device,
                                max_in_flight=config.max_in_flight)
    else:
        from qtn.quantum.pyqpanda_executor import CPUQVMBackend

        backend = CPUQVMBackend(device, config.shots, config.sampling, config.max_density_qubits,
                                config.sdk_threads)
    cache = ResultCache(None if run_dir is None else Path(run_dir) / CACHE_FILE)
    jobs = JobRunner(backend, cache, config.job_policy(), seed=config.seed, tracker=tracker,
                     progress=progress)
    return HostExecutor(config.executor, jobs, device, tracker)
