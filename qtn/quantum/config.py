"""The ``quantum:`` section of a run config, and the runner every circuit layer holds.

YAML (defaults shown)::

    quantum:
      executor: exact        # exact | sampled | noisy | pyqpanda3 | qiskit-aer
      shots: 1000            # per circuit (sampled, noisy, SDK executors); null on noisy: the
                             #   exact noisy distribution
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

Every error is reported before anything is loaded (``check``). :class:`CircuitRunner` is the
static (jit-hashable) object a layer calls: the executor plus the gradient rule.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from qtn.quantum.circuit import Circuit
from qtn.quantum.devices import NoiseSpec, get_device
from qtn.quantum.executors import ExactExecutor, NoisyExecutor, SampledExecutor
from qtn.quantum.gradients import GRADIENTS, default_gradient, estimate
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
        if self.shots is None and self.executor in ("sampled",) + SDK_EXECUTORS:
            e.append(f"quantum.shots must be an integer >= 1 for executor {self.executor!r}")
        if self.shots is not None and (isinstance(self.shots, bool) or self.shots < 1):
            e.append(f"quantum.shots must be >= 1 or null, got {self.shots!r}")
        for name in ("trajectories", "job_size"):
            if getattr(self, name) < 1:
                e.append(f"quantum.{name} must be >= 1, got {getattr(self, name)}")
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


def make_runner(config: QuantumConfig, tracker: Tracker | None = None) -> CircuitRunner:
    """The runner for a run's ``quantum:`` section (raises ValueError on a bad section; an SDK
    executor whose package is missing raises ImportError naming the extra to install)."""
    errors = config.check()
    if errors:
        raise ValueError("; ".join(errors))
    executor = make_executor(config, tracker)
    return CircuitRunner(executor, config.gradient or default_gradient(executor),
                         config.spsa_epsilon)


def make_executor(config: QuantumConfig, tracker: Tracker | None = None):
    """The executor named by ``config.executor``."""
    name = config.executor
    if name == "exact":
        return ExactExecutor(tracker=tracker)
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
    raise ValueError(
        f"executor {name!r} is not available yet in this build; choose from {JAX_EXECUTORS}"
    )
