"""Cross-checks that make the path to hardware trustworthy: qtn's exact probabilities equal
pyqpanda3's CPUQVM and qiskit's Statevector on every ansatz / entangler / pattern and the QNN;
qtn's noisy density matrix equals pyqpanda3's and qiskit-aer's on the same device model; the
SDKs' own noisy shots agree with it within sampling error."""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum import ansatz_circuit, exact_probabilities, get_device, qnn_circuit
from qtn.quantum.bitorder import little_to_qtn
from qtn.quantum.noise import noisy_probabilities
from qtn.tn import CircuitSpec

pytest.importorskip("pyqpanda3.core")
pytest.importorskip("qiskit_aer")

from qiskit.quantum_info import Statevector  # noqa: E402

from qtn.quantum.pyqpanda_executor import CPUQVMBackend  # noqa: E402
from qtn.quantum.qiskit_convert import to_qiskit_slots  # noqa: E402
from qtn.quantum.qiskit_executor import AerBackend  # noqa: E402

ANSATZ = {
    f"{ansatz}-{entangler}-{pattern}": ansatz_circuit(
        CircuitSpec(2, ansatz, entangler, pattern, readout="probs"), 4)
    for ansatz, entangler, pattern in itertools.product(
        ("hea", "general"), ("cz", "cnot"), ("chain", "brickwork"))
}
CIRCUITS = {**ANSATZ, "qnn3x2": qnn_circuit(3, 2), "qnn4x1": qnn_circuit(4, 1)}
ALL_TO_ALL = dataclasses.replace(get_device("wukong72"), name="wukong-noise", edges=None)


def _angles(circuit, rows=3, seed=0):
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, (rows, circuit.n_slots))


@pytest.mark.parametrize("circuit", list(CIRCUITS.values()), ids=list(CIRCUITS))
def test_exact_probabilities_equal_cpuqvm_and_statevector(circuit, x64):
    a = _angles(circuit)
    qtn_p = np.asarray(exact_probabilities(circuit, jnp.asarray(a)))
    cpuqvm = CPUQVMBackend(shots=None).run_job(circuit, a, None)
    statevector = np.stack([
        little_to_qtn(Statevector(to_qiskit_slots(circuit, row, measure=False)).probabilities())
        for row in a
    ])
    aer = AerBackend(shots=None).run_job(circuit, a, None)
    for other in (cpuqvm, statevector, aer):
        assert np.abs(other - qtn_p).max() < 1e-6


def test_dense_qnn_path_equals_cpuqvm_and_statevector(x64):
    """The per-token QNN as the layers run it (weight-only slots shared by every token: the
    dense path of qtn.quantum.dense) against both SDKs."""
    circuit = qnn_circuit(4, 2)
    rng = np.random.default_rng(1)
    w = rng.uniform(-np.pi, np.pi, circuit.n_weights)
    x = rng.normal(size=(3, circuit.n_inputs))
    a = np.asarray(circuit.slot_angles(jnp.asarray(w), jnp.asarray(x)))
    dense = np.asarray(exact_probabilities(circuit, jnp.asarray(a), shared_rows=True))
    cpuqvm = CPUQVMBackend(shots=None).run_job(circuit, a, None)
    statevector = np.stack([
        little_to_qtn(Statevector(to_qiskit_slots(circuit, row, measure=False)).probabilities())
        for row in a
    ])
    for other in (cpuqvm, statevector):
        assert np.abs(other - dense).max() < 1e-9


@pytest.mark.parametrize("circuit", [qnn_circuit(3, 1), ANSATZ["general-cnot-brickwork"]],
                         ids=["qnn3x1", "general-cnot-brickwork"])
def test_noisy_density_matrices_agree(circuit, x64):
    """Depolarizing per U3 / per CZ qubit and readout (Wukong's figures) plus amplitude and
    phase damping: qtn, pyqpanda3's DensityMatrixSimulator and Aer's density matrix."""
    noise = dataclasses.replace(ALL_TO_ALL.noise, amplitude_damping=0.02, phase_damping=0.03)
    device = dataclasses.replace(ALL_TO_ALL, noise=noise)
    a = _angles(circuit, rows=1)  # pyqpanda3's density matrix with damping is slow (~4 s)
    ref = np.asarray(noisy_probabilities(circuit, jnp.asarray(a), device, key=jax.random.key(0)))
    assert np.abs(ref - np.asarray(exact_probabilities(circuit, jnp.asarray(a)))).max() > 0.02
    for backend in (CPUQVMBackend(device, shots=None), AerBackend(device, shots=None)):
        assert np.abs(backend.run_job(circuit, a, None) - ref).max() < 1e-9


def _chi2_pvalue(freqs: np.ndarray, probs: np.ndarray, shots: int) -> float:
    """Pearson's chi-square test of counts against ``probs`` (outcomes with expected >= 5)."""
    from scipy.stats import chi2

    expected = probs * shots
    keep = expected >= 5
    stat = np.sum((freqs[keep] * shots - expected[keep]) ** 2 / expected[keep])
    return float(chi2.sf(stat, int(keep.sum()) - 1))


@pytest.mark.parametrize("backend_cls", [CPUQVMBackend, AerBackend], ids=["cpuqvm", "aer"])
def test_sdk_noisy_shots_agree_within_sampling_error(backend_cls, x64):
    """Each SDK's own noisy sampler (readout error included) against qtn's noisy distribution:
    a chi-square test per circuit, and the total-variation distance within its expected size.
    Aer is seeded (fixed counts); pyqpanda3's CPUQVM takes no seed (p-value floor 1e-5)."""
    circuit, shots = qnn_circuit(3, 1), 3000
    a = _angles(circuit, rows=2, seed=3)
    ref = np.asarray(noisy_probabilities(circuit, jnp.asarray(a), ALL_TO_ALL,
                                         key=jax.random.key(0)))
    freqs = backend_cls(ALL_TO_ALL, shots=shots, sampling="sdk").run_job(
        circuit, a, np.array([1, 2], np.uint64))
    exact = np.asarray(exact_probabilities(circuit, jnp.asarray(a)))
    for f, p, e in zip(freqs, ref, exact, strict=True):
        assert _chi2_pvalue(f, p, shots) > 1e-5
        assert _chi2_pvalue(f, e, shots) < 1e-5  # the noise is seen: not the noiseless law
        tv = 0.5 * np.abs(f - p).sum()
        assert tv < 3 * np.sqrt(len(p) / shots) / 2
