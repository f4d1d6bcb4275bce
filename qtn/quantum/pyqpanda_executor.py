"""pyqpanda3 (Origin Quantum's SDK, optional extra ``qtn[qpanda]``): circuits as ``QProg`` s, run
locally on ``CPUQVM`` or remotely on Origin's cloud (where the Wukong chip runs).

Host backends (``qtn.quantum.host``; each runs one job of concrete circuits):

- :class:`CPUQVMBackend` — the local simulator. Without noise the circuit is built from qtn's
  gates one to one (RY, RX, RZ, CRZ, CZ, CNOT: same conventions) and ``CPUQVM`` gives its
  exact probabilities (no measurement). With a device's noise the circuit is first written in
  the device's native gates exactly as qtn's own ``noisy`` executor and the quantum bill see
  it (``qtn.quantum.noise.native_ops``: merged U3s + CZ; U3 angles from
  ``qtn.quantum.host.native_u3_params``), and a pyqpanda3 ``NoiseModel`` built from the
  device's :class:`~qtn.quantum.devices.NoiseSpec` attaches to those native gates:
  ``depolarizing_error(l)`` on every U3 (``depolarizing_1q``) and on every CZ
  (``depolarizing_2q``; pyqpanda3 applies it to each of the CZ's qubits independently, qtn's
  convention), amplitude / phase damping likewise, ``add_all_qubit_read_out_error`` with the
  readout confusion. (pyqpanda3's own ``Transpiler`` leaves such a U3 + CZ program unchanged
  on the circuit's coupling graph at optimisation level 0 — a test checks it; on the logical
  circuit it would write CRZ with more U3s at level 0 and resynthesise CZs at levels 1-2,
  i.e. a different noisy circuit than the device model qtn bills and simulates.)
  The noisy distribution comes from ``DensityMatrixSimulator`` (up to ``max_density_qubits``)
  with the readout confusion applied after it.

  Shots, ``sampling="seeded"`` (default): ``shots`` counts are drawn from that distribution
  with one seed per circuit (run seed, circuit hash), so a re-run gives the same counts.
  ``sampling="sdk"``: ``CPUQVM.run(prog + measure, shots, noise_model)``'s own counts (noise
  by per-shot trajectories, readout error included). pyqpanda3 0.5.1's ``CPUQVM`` takes no
  seed (``run(prog, shots, model)`` only; its sampler draws from ``std::random_device``:
  repeated runs give different counts, checked), so ``sdk`` counts are not reproducible —
  only the result cache makes a resumed run see the same numbers.

- :class:`QCloudBackend` — Origin's cloud: the same logical ``QProg`` s (measured), sent as one
  cloud job per qtn job with ``backend.run(progs, shots, QCloudOptions())``, polled until
  finished (``timeout_s``), counts from ``result.get_counts_list()``. The cloud compiles the
  circuits onto the chip itself. The backend object is injected (``cloud=``):
  :func:`connect_cloud` makes the real one (``QCloudService(api_key).backend(name)``, e.g.
  ``origin_wukong``); tests inject an object that answers on ``CPUQVM`` (no network).
  The API key comes from ``ORIGIN_QC_API_KEY`` or a key file (:func:`resolve_api_key`).

Threads: pyqpanda3's simulators parallelise every gate with OpenMP (the system's ``libgomp``);
on a busy machine its spinning threads made a 12-qubit CPUQVM run ~60x slower than one thread
(measured: 0.2 s vs 3 ms). Each job therefore calls ``omp_set_num_threads(threads)`` for the
thread that runs it (default 1; None leaves OpenMP's default).

Bit order: pyqpanda3 is little-endian (qubit 0 = least significant; count keys with qubit 0 the
rightmost character); results are converted by ``qtn.quantum.bitorder``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qtn.quantum.bitorder import counts_to_qtn_probs, little_to_qtn
from qtn.quantum.circuit import Circuit
from qtn.quantum.devices import IDEAL, Device, NoiseSpec
from qtn.quantum.host import (
    SAMPLING,
    apply_readout_np,
    native_u3_params,
    noise_tag,
    require,
    sample_frequencies_np,
)

EXECUTOR = "pyqpanda3"
EXTRA = "qpanda"
LOCAL = "cpuqvm"
API_KEY_ENV = "ORIGIN_QC_API_KEY"


def _core():
    return require("pyqpanda3.core", executor=EXECUTOR, extra=EXTRA)


@functools.lru_cache(maxsize=1)
def _openmp():
    name = ctypes.util.find_library("gomp")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def limit_openmp_threads(threads: int | None) -> None:
    """``omp_set_num_threads(threads)`` for the calling thread (no-op for None or without
    libgomp)."""
    lib = _openmp() if threads is not None else None
    if lib is not None:
        lib.omp_set_num_threads(int(threads))


def to_qprog(circuit: Circuit, slot_angles, *, measure: bool = False):
    """One concrete circuit (``slot_angles: (n_slots,)``) as a pyqpanda3 ``QProg`` of qtn's
    gates, measured into classical bit q per qubit q when ``measure``."""
    core = _core()
    slot_angles = np.asarray(slot_angles, np.float64)
    if slot_angles.shape != (circuit.n_slots,):
        raise ValueError(f"{circuit.name}: slot angles have shape {slot_angles.shape}, "
                         f"expected ({circuit.n_slots},)")
    prog = core.QProg()
    slot = 0
    for g in circuit.gates:
        if g.name == "cz":
            prog << core.CZ(*g.qubits)
        elif g.name == "cnot":
            prog << core.CNOT(*g.qubits)
        else:
            a = float(slot_angles[slot])
            slot += 1
            if g.name == "crz":
                prog << core.CRZ(g.qubits[0], g.qubits[1], a)
            else:
                prog << {"ry": core.RY, "rx": core.RX, "rz": core.RZ}[g.name](g.qubits[0], a)
    if measure:
        prog << core.measure(list(range(circuit.n_qubits)), list(range(circuit.n_qubits)))
    return prog


def native_qprogs(circuit: Circuit, angles: np.ndarray, *, measure: bool = False) -> list:
    """qtn's native U3 + CZ circuit (``qtn.quantum.noise``) as one ``QProg`` per row of
    ``angles: (J, n_slots)``."""
    core = _core()
    ops = native_u3_params(circuit, angles)
    progs = []
    for j in range(np.asarray(angles).shape[0]):
        prog = core.QProg()
        for kind, qubits, params in ops:
            if kind == "cz":
                prog << core.CZ(*qubits)
            else:
                t, p, lam = (float(v) for v in params[j])
                prog << core.U3(qubits[0], t, p, lam)
        if measure:
            prog << core.measure(list(range(circuit.n_qubits)), list(range(circuit.n_qubits)))
        progs.append(prog)
    return progs


def noise_model(noise: NoiseSpec, *, readout: bool = True):
    """A pyqpanda3 ``NoiseModel`` of ``noise`` on the native gates U3 and CZ (module
    docstring); ``readout=False`` leaves the readout confusion out (applied separately)."""
    core = _core()
    model = core.NoiseModel()
    for gate_type, depol in ((core.GateType.U3, noise.depolarizing_1q),
                             (core.GateType.CZ, noise.depolarizing_2q)):
        if depol > 0:
            model.add_all_qubit_quantum_error(core.depolarizing_error(depol), gate_type)
        if noise.amplitude_damping > 0:
            model.add_all_qubit_quantum_error(
                core.amplitude_damping_error(noise.amplitude_damping), gate_type)
        if noise.phase_damping > 0:
            model.add_all_qubit_quantum_error(
                core.phase_damping_error(noise.phase_damping), gate_type)
    if readout and noise.readout != ((1.0, 0.0), (0.0, 1.0)):
        model.add_all_qubit_read_out_error([list(row) for row in noise.readout])
    return model


@dataclass(frozen=True)
class CPUQVMBackend:
    """pyqpanda3's local ``CPUQVM`` (module docstring). ``shots=None``: exact (noisy)
    probabilities; ``threads``: OpenMP threads per job. Jobs run one after the other
    (``max_in_flight = 1``)."""

    device: Device = IDEAL
    shots: int | None = 1000
    sampling: str = "seeded"
    max_density_qubits: int = 10
    threads: int | None = 1
    max_in_flight = 1

    def __post_init__(self):
        if self.sampling not in SAMPLING:
            raise ValueError(f"pyqpanda3: sampling must be one of {SAMPLING}, got "
                             f"{self.sampling!r}")
        if self.shots is not None and (not isinstance(self.shots, int) or self.shots < 1):
            raise ValueError(f"pyqpanda3: shots must be an integer >= 1 or None, got "
                             f"{self.shots!r}")
        _core()

    @property
    def noisy(self) -> bool:
        return not self.device.noise.noiseless

    @property
    def name(self) -> str:
        noise = f"noise={noise_tag(self.device.noise)}" if self.noisy else "noiseless"
        return f"pyqpanda3/{LOCAL}/{self.device.name}/{noise}/{self.sampling}"

    def check(self, circuit: Circuit) -> None:
        """The device's qubit count and coupling graph (as qtn's noisy executor); a noisy
        distribution by density matrix needs <= ``max_density_qubits`` qubits."""
        self.device.check(circuit)
        if self.noisy and self.sampling == "seeded" and circuit.n_qubits > self.max_density_qubits:
            raise ValueError(
                f"pyqpanda3: circuit {circuit.name} has {circuit.n_qubits} qubits; its noisy "
                f"distribution (density matrix) is computed up to max_density_qubits="
                f"{self.max_density_qubits}; use sampling 'sdk' (CPUQVM's own noisy shots) "
                "or a noiseless device"
            )

    def run_job(self, circuit: Circuit, angles: np.ndarray, seeds: np.ndarray,
                timeout_s: float | None = None) -> np.ndarray:
        """``angles: (J, n_slots)`` -> estimated probabilities (J, 2^n), qtn order."""
        del timeout_s  # a local simulator answers synchronously
        core = _core()
        limit_openmp_threads(self.threads)
        n = circuit.n_qubits
        if self.shots is not None and self.sampling == "sdk":
            if self.noisy:
                progs = native_qprogs(circuit, angles, measure=True)
            else:
                progs = [to_qprog(circuit, row, measure=True) for row in angles]
            model = noise_model(self.device.noise) if self.noisy else core.NoiseModel()
            qvm = core.CPUQVM()
            out = []
            for prog in progs:
                qvm.run(prog, self.shots, model)
                out.append(counts_to_qtn_probs(qvm.result().get_counts(), n))
            return np.stack(out)
        probs = self.distribution(circuit, angles)
        return probs if self.shots is None else sample_frequencies_np(probs, self.shots, seeds)

    def distribution(self, circuit: Circuit, angles: np.ndarray) -> np.ndarray:
        """The exact (noisy) outcome distribution of each row of ``angles``: (J, 2^n)."""
        core = _core()
        qubits = list(range(circuit.n_qubits))
        if not self.noisy:
            qvm = core.CPUQVM()
            out = []
            for row in angles:
                qvm.run(to_qprog(circuit, row), 1)
                out.append(qvm.result().get_prob_list(qubits))
            return little_to_qtn(np.asarray(out, np.float64))
        sim = core.DensityMatrixSimulator()
        model = noise_model(self.device.noise, readout=False)
        out = []
        for prog in native_qprogs(circuit, angles):
            sim.run(prog, model)
            out.append(np.real(np.diagonal(np.asarray(sim.density_matrix()))))
        return apply_readout_np(little_to_qtn(np.asarray(out)), self.device.noise.readout)

    def describe(self) -> dict[str, Any]:
        return {"sdk": "pyqpanda3", "simulator": LOCAL, "sampling": self.sampling}


@dataclass(frozen=True, eq=False)
class QCloudBackend:
    """Origin's cloud through pyqpanda3 (module docstring). ``cloud``: a
    ``pyqpanda3.qcloud.QCloudBackend`` (:func:`connect_cloud`) or any object with the same
    ``run(progs, shots, options) -> job`` (job: ``job_id()``, ``status()``, ``result()``;
    result: ``get_counts_list()``, ``error_message()``). ``options``: a ``QCloudOptions``
    (None: pyqpanda3's defaults)."""

    cloud: Any
    backend_name: str
    shots: int
    device: Device = IDEAL
    options: Any = None
    poll_s: float = 2.0
    max_in_flight: int = 4

    def __post_init__(self):
        if not isinstance(self.shots, int) or self.shots < 1:
            raise ValueError(f"pyqpanda3 cloud backend {self.backend_name!r}: shots must be an "
                             f"integer >= 1 (a QPU returns counts), got {self.shots!r}")

    @property
    def name(self) -> str:
        return f"pyqpanda3/{self.backend_name}"

    def check(self, circuit: Circuit) -> None:
        """The device's qubit count (the cloud maps and routes onto the chip itself)."""
        n = self.device.n_qubits
        if n is not None and circuit.n_qubits > n:
            raise ValueError(f"circuit {circuit.name} needs {circuit.n_qubits} qubits but "
                             f"device {self.device.name} has {n}")

    def run_job(self, circuit: Circuit, angles: np.ndarray, seeds: np.ndarray,
                timeout_s: float | None = None) -> np.ndarray:
        """Submit the job, wait for it, return the measured frequencies (J, 2^n), qtn order."""
        del seeds  # a QPU's shot noise is its own
        progs = [to_qprog(circuit, row, measure=True) for row in angles]
        options = self.options
        if options is None:
            options = require("pyqpanda3.qcloud", executor=EXECUTOR, extra=EXTRA).QCloudOptions()
        job = self.cloud.run(progs, self.shots, options)
        job_id = job.job_id()
        result = self._wait(job, job_id, timeout_s)
        counts = result.get_counts_list()
        if len(counts) != len(progs):
            raise RuntimeError(f"cloud job {job_id} returned {len(counts)} results for "
                               f"{len(progs)} circuits")
        return np.stack([counts_to_qtn_probs(c, circuit.n_qubits) for c in counts])

    def _wait(self, job, job_id: str, timeout_s: float | None):
        start = time.monotonic()
        while True:
            status = _status_name(job.status())
            if status == "FINISHED":
                return job.result()
            if status == "FAILED":
                raise RuntimeError(f"cloud job {job_id} failed: {job.result().error_message()}")
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                _cancel(job)
                raise TimeoutError(f"cloud job {job_id} not finished after {timeout_s} s "
                                   f"(status {status}; cancelled)")
            time.sleep(self.poll_s)

    def describe(self) -> dict[str, Any]:
        return {"sdk": "pyqpanda3", "cloud_backend": self.backend_name}


def _cancel(job) -> None:
    try:
        job.cancel()
    except Exception:  # noqa: BLE001 - the timeout is the error to report
        pass


def _status_name(status) -> str:
    return getattr(status, "name", str(status)).split(".")[-1].upper()


def resolve_api_key(key_file: str | os.PathLike | None = None,
                    environ: dict[str, str] | None = None) -> str:
    """The Origin cloud API key: ``$ORIGIN_QC_API_KEY``, else the first line of ``key_file``.
    Raises ValueError saying how to provide one."""
    environ = os.environ if environ is None else environ
    key = environ.get(API_KEY_ENV, "").strip()
    if key:
        return key
    if key_file:
        path = Path(key_file).expanduser()
        if not path.is_file():
            raise ValueError(f"quantum.api_key_file {str(path)!r} does not exist")
        key = path.read_text().strip().splitlines()[0].strip() if path.read_text().strip() else ""
        if key:
            return key
        raise ValueError(f"quantum.api_key_file {str(path)!r} is empty")
    raise ValueError(
        f"the Origin cloud needs an API key: set the environment variable {API_KEY_ENV} "
        "(export ORIGIN_QC_API_KEY=...) or point quantum.api_key_file at a file holding it "
        "(the key is in your Origin Quantum cloud account, qcloud.originqc.com.cn)"
    )


def connect_cloud(backend_name: str, api_key: str):
    """``pyqpanda3.qcloud.QCloudService(api_key).backend(backend_name)`` (network)."""
    qcloud = require("pyqpanda3.qcloud", executor=EXECUTOR, extra=EXTRA)
    return qcloud.QCloudService(api_key).backend(backend_name)
