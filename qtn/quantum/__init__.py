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
- ``Tracker``: run-time counts of circuits, distinct circuits, shots, jobs and cache hits.
- External SDKs (optional extras; qtn imports without them): ``HostExecutor`` (circuits run on
  the host through ``jax.pure_callback``) with the backends of ``qtn.quantum.pyqpanda_executor``
  (``CPUQVM``, Origin's cloud) and ``qtn.quantum.qiskit_executor`` (qiskit-aer);
  ``JobRunner`` / ``ResultCache`` / ``JobPolicy`` (``qtn.quantum.jobs``: deduplicated jobs of
  <= 200 circuits, retries, a durable SQLite result cache in the run folder).
- Export (``qtn.quantum.export``): ``to_qasm2``, ``to_originir``, ``to_qasm3_template``,
  ``export_circuits`` (files + manifest).
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
from qtn.quantum.export import (
    CircuitExport,
    export_circuits,
    to_originir,
    to_qasm2,
    to_qasm3_template,
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
from qtn.quantum.host import HostExecutor
from qtn.quantum.jobs import JobError, JobPolicy, JobRunner, ResultCache
from qtn.quantum.noise import native_counts, native_ops, noisy_probabilities
from qtn.quantum.statevector import probabilities, simulate, z_expectations
from qtn.quantum.tracker import Tracker

__all__ = [
    "GATES",
    "GRADIENTS",
    "IDEAL",
    "MEASURES",
    "Circuit",
    "CircuitExport",
    "Device",
    "ExactExecutor",
    "Gate",
    "HostExecutor",
    "JobError",
    "JobPolicy",
    "JobRunner",
    "NoiseSpec",
    "NoisyExecutor",
    "ResultCache",
    "SampledExecutor",
    "Tracker",
    "ansatz_circuit",
    "default_gradient",
    "estimate",
    "exact_probabilities",
    "export_circuits",
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
    "to_originir",
    "to_qasm2",
    "to_qasm3_template",
    "wukong72",
    "z_expectations",
]
