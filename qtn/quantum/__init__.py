"""qtn.quantum: circuits as a QPU runs them — executors, hardware gradient rules, devices.

API (B circuits of one template; qubit 0 = most significant bit):

- ``Circuit`` / ``Gate`` (``qtn.quantum.circuit``): a gate-list template whose angles come from
  trainable ``weights`` and per-circuit ``inputs``; ``ansatz_circuit(spec, n)`` (the
  weight-space cores' HEA / general ansatz), ``qnn_circuit(r, layers)`` (the paper's
  per-token QNN).
- Executors (``probabilities(circuit, angles: (B, slots), key) -> (B, 2^n)``):
  ``ExactExecutor`` (default, autodiff), ``SampledExecutor(shots)``,
  ``NoisyExecutor(device, shots)``; ``make_executor(QuantumConfig)`` builds one from a run
  config's ``quantum:`` section.
- ``estimate(executor, circuit, weights, inputs, measure="probs"|"z", gradient=..., key=...)``:
  what every layer calls; differentiable by ``autodiff`` / ``parameter_shift`` / ``spsa`` /
  ``simulator`` (``qtn.quantum.gradients``).
- Devices: ``get_device("ideal" | "linear<n>" | "wukong72")``, ``NoiseSpec``; native-gate
  counts ``native_counts(circuit)``.
- ``Tracker``: run-time counts of circuits, distinct circuits, shots and jobs.
"""

from qtn.quantum.circuit import GATES, Circuit, Gate, ansatz_circuit, qnn_circuit
from qtn.quantum.devices import IDEAL, Device, NoiseSpec, get_device, linear, wukong72
from qtn.quantum.executors import (
    MEASURES,
    ExactExecutor,
    NoisyExecutor,
    SampledExecutor,
    exact_probabilities,
    sample_frequencies,
)
from qtn.quantum.gradients import (
    GRADIENTS,
    default_gradient,
    estimate,
    measure_map,
    shift_jacobian,
    shift_table,
    shifted_circuits,
)
from qtn.quantum.noise import native_counts, native_ops, noisy_probabilities
from qtn.quantum.statevector import probabilities, simulate, z_expectations
from qtn.quantum.tracker import Tracker

__all__ = [
    "GATES",
    "GRADIENTS",
    "IDEAL",
    "MEASURES",
    "Circuit",
    "Device",
    "ExactExecutor",
    "Gate",
    "NoiseSpec",
    "NoisyExecutor",
    "SampledExecutor",
    "Tracker",
    "ansatz_circuit",
    "default_gradient",
    "estimate",
    "exact_probabilities",
    "get_device",
    "linear",
    "measure_map",
    "native_counts",
    "native_ops",
    "noisy_probabilities",
    "probabilities",
    "qnn_circuit",
    "sample_frequencies",
    "shift_jacobian",
    "shift_table",
    "shifted_circuits",
    "simulate",
    "wukong72",
    "z_expectations",
]
