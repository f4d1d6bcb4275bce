"""Executors: the one place where circuits are evaluated.

An executor takes a circuit template and a batch of slot angles and returns the estimated
basis-state probabilities, as a QPU returns them (qiskit's SamplerV2 / PennyLane's execute:
a batch in, one result per circuit out; shots are an option of the executor, not global
state)::

    executor.probabilities(circuit, angles: (B, n_slots), key, shared_rows=False) -> (B, 2^n)

(``shared_rows``: the weight-only slots hold the same angle in every row, a hint a simulator
may use to share work across rows: ``qtn.quantum.statevector``.)

- :class:`ExactExecutor` (``exact``, the default): exact probabilities by state-vector
  simulation in JAX; differentiable by autodiff. The paper's per-token QNN read out as <Z_i>
  goes to a C++ kernel instead (:meth:`ExactExecutor.native_z`, ``qtn.quantum.native``).
- :class:`SampledExecutor` (``sampled``): ``shots`` measurements per circuit; the estimate is
  the frequencies ``counts / shots`` (multinomial draws from the exact probabilities with an
  explicit PRNG key: the same key gives the same counts).
- :class:`NoisyExecutor` (``noisy``): a device's noise (``qtn.quantum.noise``): the circuit
  is decomposed into the device's native gates, each followed by its error channels, by
  density matrix up to ``max_density_qubits`` and by Monte-Carlo trajectories above; then
  the readout confusion and ``shots`` samples (``shots=None``: the exact noisy distribution).

External SDKs (pyqpanda3, qiskit-aer) implement the same method through host callbacks.
What is measured from the probabilities (``probs`` or ``z``: <Z_q> per qubit) and how
gradients are obtained (``qtn.quantum.gradients``) are separate from the executor. Every
executor may carry a :class:`~qtn.quantum.tracker.Tracker` that counts circuits, distinct
circuits, shots and jobs at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from qtn.quantum.circuit import Circuit
from qtn.quantum.dense import dense_eligible, dense_probabilities
from qtn.quantum.devices import IDEAL, Device
from qtn.quantum.native import qnn as native_qnn
from qtn.quantum.noise import noisy_probabilities
from qtn.quantum.statevector import simulate_state, state_probabilities
from qtn.quantum.tracker import Tracker, track

MEASURES = ("probs", "z")


def exact_probabilities(
    circuit: Circuit, angles: jax.Array, *, shared_rows: bool = False
) -> jax.Array:
    """Noiseless |<k|U|0>|^2: (B, n_slots) -> (B, 2^n). Rows sharing their weight-only
    slots (``shared_rows``) of a small circuit take the dense path (:mod:`qtn.quantum.dense`:
    a fraction of the compile time); the rest the fused-block state vector."""
    if shared_rows and dense_eligible(circuit):
        return dense_probabilities(circuit, angles)
    return state_probabilities(simulate_state(circuit, angles, shared_rows=shared_rows))


def sample_frequencies(key: jax.Array, probs: jax.Array, shots: int) -> jax.Array:
    """``shots`` draws per row of ``probs: (B, K)`` -> frequencies (B, K) (counts / shots).
    Rows are clipped at 0 and renormalised first (float round-off)."""
    p = jnp.clip(probs, 0.0, None)
    p = p / jnp.sum(p, axis=-1, keepdims=True)
    counts = jax.random.multinomial(key, shots, p.astype(jnp.float32))
    return (counts / shots).astype(probs.dtype)


@dataclass(frozen=True)
class ExactExecutor:
    """Exact probabilities (autodiff gradients). ``tracker`` counts simulated circuits;
    ``native`` lets :meth:`native_z` use the C++ QNN kernel."""

    tracker: Tracker | None = None
    native: bool = True
    name = "exact"
    exact = True
    shots = None

    def check(self, circuit: Circuit) -> None:
        """Raise ValueError if this executor cannot run ``circuit`` (nothing to check)."""

    def probabilities(
        self, circuit: Circuit, angles: jax.Array, key: jax.Array, shared_rows: bool = False
    ) -> jax.Array:
        del key
        track(self.tracker, circuit, angles, shots=0)
        return exact_probabilities(circuit, angles, shared_rows=shared_rows)

    def native_z(
        self, circuit: Circuit, weights: jax.Array, inputs: jax.Array | None
    ) -> jax.Array | None:
        """<Z_q> of every row, (B, n), by the C++ kernel when it applies (``native`` set, the
        paper's QNN circuit, float32 on CPU: :func:`qtn.quantum.native.qnn.eligible`); None
        otherwise. Same values and gradients as the simulator (tested)."""
        if not self.native:
            return None
        layers = native_qnn.eligible(circuit, weights, inputs)
        if layers is None:
            return None
        if self.tracker is not None:
            track(self.tracker, circuit, circuit.slot_angles(weights, inputs), shots=0)
        return native_qnn.qnn_z(layers, inputs, weights)

    def describe(self) -> dict:
        return {"executor": self.name, "shots": None, "device": IDEAL.name}


@dataclass(frozen=True)
class SampledExecutor:
    """``shots`` measurements per circuit of the exact distribution (no device noise)."""

    shots: int = 1000
    tracker: Tracker | None = None
    name = "sampled"
    exact = False

    def __post_init__(self):
        if not isinstance(self.shots, int) or self.shots < 1:
            raise ValueError(f"sampled executor: shots must be an integer >= 1, got {self.shots!r}")

    def check(self, circuit: Circuit) -> None:
        """Raise ValueError if this executor cannot run ``circuit`` (nothing to check)."""

    def probabilities(
        self, circuit: Circuit, angles: jax.Array, key: jax.Array, shared_rows: bool = False
    ) -> jax.Array:
        track(self.tracker, circuit, angles, shots=self.shots)
        probs = exact_probabilities(circuit, angles, shared_rows=shared_rows)
        return sample_frequencies(key, probs, self.shots)

    def describe(self) -> dict:
        return {"executor": self.name, "shots": self.shots, "device": IDEAL.name}


@dataclass(frozen=True)
class NoisyExecutor:
    """The circuit run on ``device``'s noise model (native gates, gate errors, readout
    confusion), then ``shots`` samples (``None``: the exact noisy distribution). Refuses a
    circuit that needs more qubits than the device has or that does not fit its coupling
    graph (:meth:`check`)."""

    device: Device
    shots: int | None = 1000
    trajectories: int = 100
    max_density_qubits: int = 10
    tracker: Tracker | None = None
    name = "noisy"
    exact = False

    def __post_init__(self):
        if self.shots is not None and (not isinstance(self.shots, int) or self.shots < 1):
            raise ValueError(f"noisy executor: shots must be an integer >= 1 or None, "
                             f"got {self.shots!r}")
        if self.trajectories < 1:
            raise ValueError(f"noisy executor: trajectories must be >= 1, got {self.trajectories}")

    def check(self, circuit: Circuit) -> None:
        self.device.check(circuit)

    def probabilities(
        self, circuit: Circuit, angles: jax.Array, key: jax.Array, shared_rows: bool = False
    ) -> jax.Array:
        del shared_rows  # the density matrices are built per row
        track(self.tracker, circuit, angles, shots=self.shots or 0)
        k_noise, k_shots = jax.random.split(key)
        probs = noisy_probabilities(
            circuit,
            angles,
            self.device,
            key=k_noise,
            trajectories=self.trajectories,
            max_density_qubits=self.max_density_qubits,
        )
        return probs if self.shots is None else sample_frequencies(k_shots, probs, self.shots)

    def describe(self) -> dict:
        return {
            "executor": self.name,
            "shots": self.shots,
            "device": self.device.name,
            "trajectories": self.trajectories,
        }
