"""Executors: the one place where circuits are evaluated.

An executor takes a circuit template and a batch of slot angles and returns the estimated
basis-state probabilities, as a QPU returns them (qiskit's SamplerV2 / PennyLane's execute:
a batch in, one result per circuit out; shots are an option of the executor, not global
state)::

    executor.probabilities(circuit, angles: (B, n_slots), key, shared_rows=False) -> (B, 2^n)

(``shared_rows``: the weight-only slots hold the same angle in every row, a hint a simulator
may use to share work across rows: ``qtn.quantum.statevector``.)

- :class:`ExactExecutor` (``exact``, the default): exact probabilities by state-vector
  simulation in JAX; differentiable by autodiff.
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
from qtn.quantum.noise import noisy_probabilities
from qtn.quantum.statevector import simulate_state, state_probabilities
from qtn.quantum.tracker import Tracker, track

MEASURES = ("probs", "z")

CHUNK_AMPLITUDES = 1 << 16
"""Amplitudes (rows x 2^n) the state-vector path simulates at once when a batch is larger:
a 256-token chunk of an 8-qubit QNN's state (512 KiB as real and imaginary fp32 parts) and
its cotangent stay in a core's L2 cache through the dozens of passes of the forward and the
adjoint reverse pass, where the whole 1,024-token batch streamed from L3
(``benchmarks/bench_qnn_chunks.py``)."""
MAX_CHUNKS = 4
"""At most this many chunks (unrolled: each is its own ops in the program, and independent
chunks run on different cores); larger batches get larger chunks."""


def chunk_rows(batch: int, n_qubits: int, chunk_amplitudes: int = CHUNK_AMPLITUDES) -> int:
    """Rows per chunk of a ``batch`` of ``n_qubits`` states: ``batch`` itself (no chunking)
    when the batch fits ``chunk_amplitudes``, else at least ``chunk_amplitudes / 2^n`` rows
    and at most :data:`MAX_CHUNKS` chunks."""
    rows = max(1, chunk_amplitudes >> n_qubits)
    if batch <= rows:
        return batch
    return max(rows, -(-batch // MAX_CHUNKS))


def exact_probabilities(
    circuit: Circuit, angles: jax.Array, *, shared_rows: bool = False,
    chunk_amplitudes: int = CHUNK_AMPLITUDES,
) -> jax.Array:
    """Noiseless |<k|U|0>|^2: (B, n_slots) -> (B, 2^n). Rows sharing their weight-only
    slots (``shared_rows``) of a small circuit take the dense path (:mod:`qtn.quantum.dense`:
    a fraction of the compile time); the rest the fused-block state vector, in chunks of
    :func:`chunk_rows` rows (each chunk's first row holds the shared angles too, so
    ``shared_rows`` stays true per chunk)."""
    if shared_rows and dense_eligible(circuit):
        return dense_probabilities(circuit, angles)
    batch = angles.shape[0]
    # a malformed angles array goes whole to simulate_state, which names the expected shape
    rows = chunk_rows(batch, circuit.n_qubits, chunk_amplitudes) if angles.ndim == 2 else batch
    parts = [
        state_probabilities(simulate_state(circuit, angles[i : i + rows], shared_rows=shared_rows))
        for i in range(0, batch, rows)
    ]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts)


def sample_frequencies(key: jax.Array, probs: jax.Array, shots: int) -> jax.Array:
    """``shots`` draws per row of ``probs: (B, K)`` -> frequencies (B, K) (counts / shots).
    Rows are clipped at 0 and renormalised first (float round-off)."""
    p = jnp.clip(probs, 0.0, None)
    p = p / jnp.sum(p, axis=-1, keepdims=True)
    counts = jax.random.multinomial(key, shots, p.astype(jnp.float32))
    return (counts / shots).astype(probs.dtype)


@dataclass(frozen=True)
class ExactExecutor:
    """Exact probabilities (autodiff gradients). ``tracker`` counts simulated circuits."""

    tracker: Tracker | None = None
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
