"""qiskit-aer as an executor (optional extra ``qtn[qiskit]``): ``AerSimulator`` with a
``NoiseModel`` built from qtn's device model.

:class:`AerBackend` runs one job of concrete circuits (``qtn.quantum.host``):

- noiseless: the circuit in qtn's gates (``qtn.quantum.qiskit_convert.to_qiskit``: RY, RX, RZ,
  CRZ, CZ, CX, same conventions) with ``save_probabilities``, statevector method;
- with a device's noise: the circuit in qtn's native U3 + CZ (``qtn.quantum.noise.native_ops``,
  the same native circuit qtn's ``noisy`` executor simulates and the quantum bill counts), and
  an Aer ``NoiseModel`` (:func:`aer_noise_model`) matching qtn's conventions: a single-qubit
  ``depolarizing_error(l_1q, 1)`` after every U3; after every CZ the tensor product of two
  independent single-qubit ``depolarizing_error(l_2q, 1)`` (one per qubit, as pyqpanda3
  does); amplitude then phase damping per touched qubit; a ``ReadoutError`` with the
  confusion matrix (``readout[i][j]`` = P(read j | state i), Aer's convention too). The exact
  noisy distribution comes from the density-matrix method (``save_probabilities``; Aer
  applies readout errors to measurements only, so the confusion is applied after it).

Shots: ``sampling="seeded"`` (default) draws ``shots`` counts from the distribution with one
seed per circuit (run seed, circuit hash). ``sampling="sdk"`` measures with Aer's own sampler
and the full noise model (readout included), one ``run`` per circuit with
``seed_simulator`` = that circuit's seed: Aer seeds experiment i of a multi-circuit run with a
value derived from the run's seed and i (checked: the same circuit at another position gets
other counts), so per-circuit runs are what keeps counts independent of job composition.
Aer's ``parameter_binds`` is not used: with a parameterised CRZ, aer 0.18 returned one result
for two bindings and wrong probabilities (checked), so circuits are bound in Python.

Bit order: qiskit is little-endian; results are converted by ``qtn.quantum.bitorder``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qtn.quantum.bitorder import counts_to_qtn_probs, little_to_qtn
from qtn.quantum.circuit import Circuit
from qtn.quantum.devices import IDEAL, READOUT_PERFECT, Device, NoiseSpec
from qtn.quantum.host import (
    SAMPLING,
    apply_readout_np,
    native_u3_params,
    noise_tag,
    require,
    sample_frequencies_np,
)
from qtn.quantum.qiskit_convert import to_qiskit_slots

EXECUTOR = "qiskit-aer"
EXTRA = "qiskit"


def _aer():
    return require("qiskit_aer", executor=EXECUTOR, extra=EXTRA)


def native_qiskit(circuit: Circuit, angles: np.ndarray, *, measure: bool = False) -> list:
    """qtn's native U3 + CZ circuit as one qiskit ``QuantumCircuit`` per row of ``angles: (J,
    n_slots)`` (measured into classical bit q per qubit q when ``measure``)."""
    from qiskit import QuantumCircuit

    n = circuit.n_qubits
    ops = native_u3_params(circuit, angles)
    out = []
    for j in range(np.asarray(angles).shape[0]):
        qc = QuantumCircuit(n, n if measure else 0)
        for kind, qubits, params in ops:
            if kind == "cz":
                qc.cz(*qubits)
            else:
                t, p, lam = (float(v) for v in params[j])
                qc.u(t, p, lam, qubits[0])
        if measure:
            qc.measure(range(n), range(n))
        out.append(qc)
    return out


def aer_noise_model(noise: NoiseSpec, *, readout: bool = True):
    """An Aer ``NoiseModel`` of ``noise`` on the native gates ``u`` (U3) and ``cz`` (module
    docstring); ``readout=False`` leaves the readout confusion out."""
    _aer()
    from qiskit_aer.noise import (
        NoiseModel,
        ReadoutError,
        amplitude_damping_error,
        depolarizing_error,
        phase_damping_error,
    )

    def per_qubit(depol: float):
        """Depolarizing, then amplitude damping, then phase damping (qtn's order)."""
        parts = []
        if depol > 0:
            parts.append(depolarizing_error(depol, 1))
        if noise.amplitude_damping > 0:
            parts.append(amplitude_damping_error(noise.amplitude_damping))
        if noise.phase_damping > 0:
            parts.append(phase_damping_error(noise.phase_damping))
        error = parts[0] if parts else None
        for part in parts[1:]:
            error = error.compose(part)
        return error

    model = NoiseModel(basis_gates=["u", "u3", "cz"])
    one = per_qubit(noise.depolarizing_1q)
    if one is not None:
        model.add_all_qubit_quantum_error(one, ["u", "u3"])
    two = per_qubit(noise.depolarizing_2q)
    if two is not None:
        model.add_all_qubit_quantum_error(two.tensor(two), ["cz"])
    if readout and noise.readout != READOUT_PERFECT:
        model.add_all_qubit_readout_error(ReadoutError([list(r) for r in noise.readout]))
    return model


@dataclass(frozen=True)
class AerBackend:
    """qiskit-aer's ``AerSimulator`` (module docstring). ``shots=None``: exact (noisy)
    probabilities; ``threads``: Aer's ``max_parallel_threads`` (None: all cores). Jobs run one
    after the other."""

    device: Device = IDEAL
    shots: int | None = 1000
    sampling: str = "seeded"
    max_density_qubits: int = 10
    threads: int | None = 1
    max_in_flight = 1

    def __post_init__(self):
        if self.sampling not in SAMPLING:
            raise ValueError(f"qiskit-aer: sampling must be one of {SAMPLING}, got "
                             f"{self.sampling!r}")
        if self.shots is not None and (not isinstance(self.shots, int) or self.shots < 1):
            raise ValueError(f"qiskit-aer: shots must be an integer >= 1 or None, got "
                             f"{self.shots!r}")
        _aer()

    @property
    def noisy(self) -> bool:
        return not self.device.noise.noiseless

    @property
    def name(self) -> str:
        noise = f"noise={noise_tag(self.device.noise)}" if self.noisy else "noiseless"
        return f"qiskit-aer/aer/{self.device.name}/{noise}/{self.sampling}"

    def check(self, circuit: Circuit) -> None:
        """The device's qubit count and coupling graph; a noisy distribution by density matrix
        needs <= ``max_density_qubits`` qubits."""
        self.device.check(circuit)
        if self.noisy and self.sampling == "seeded" and circuit.n_qubits > self.max_density_qubits:
            raise ValueError(
                f"qiskit-aer: circuit {circuit.name} has {circuit.n_qubits} qubits; its noisy "
                f"distribution (density matrix) is computed up to max_density_qubits="
                f"{self.max_density_qubits}; use sampling 'sdk' (Aer's own noisy shots) or a "
                "noiseless device"
            )

    def run_job(self, circuit: Circuit, angles: np.ndarray, seeds: np.ndarray,
                timeout_s: float | None = None) -> np.ndarray:
        """``angles: (J, n_slots)`` -> estimated probabilities (J, 2^n), qtn order."""
        del timeout_s
        aer = _aer()
        n = circuit.n_qubits
        if self.shots is not None and self.sampling == "sdk":
            if self.noisy:
                circuits = native_qiskit(circuit, angles, measure=True)
                sim = aer.AerSimulator(noise_model=aer_noise_model(self.device.noise),
                                       **self._options())
            else:
                circuits = [to_qiskit_slots(circuit, row, measure=True) for row in angles]
                sim = aer.AerSimulator(**self._options())
            out = []
            for qc, seed in zip(circuits, seeds, strict=True):
                counts = sim.run(qc, shots=self.shots, seed_simulator=int(seed)).result()
                out.append(counts_to_qtn_probs(counts.get_counts(0), n))
            return np.stack(out)
        probs = self.distribution(circuit, angles)
        return probs if self.shots is None else sample_frequencies_np(probs, self.shots, seeds)

    def distribution(self, circuit: Circuit, angles: np.ndarray) -> np.ndarray:
        """The exact (noisy) outcome distribution of each row of ``angles``: (J, 2^n)."""
        aer = _aer()
        if self.noisy:
            circuits = native_qiskit(circuit, angles)
            sim = aer.AerSimulator(method="density_matrix",
                                   noise_model=aer_noise_model(self.device.noise, readout=False),
                                   **self._options())
        else:
            circuits = [to_qiskit_slots(circuit, row, measure=False) for row in angles]
            sim = aer.AerSimulator(method="statevector", **self._options())
        for qc in circuits:
            qc.save_probabilities()
        result = sim.run(circuits, shots=1).result()
        probs = np.stack([np.asarray(result.data(i)["probabilities"], np.float64)
                          for i in range(len(circuits))])
        probs = little_to_qtn(probs)
        return apply_readout_np(probs, self.device.noise.readout) if self.noisy else probs

    def _options(self) -> dict[str, int]:
        return {} if self.threads is None else {"max_parallel_threads": int(self.threads)}

    def describe(self) -> dict[str, Any]:
        return {"sdk": "qiskit-aer", "simulator": "AerSimulator", "sampling": self.sampling}
