"""Circuits that leave JAX: the executor the external SDKs share, and their host-side helpers.

:class:`HostExecutor` implements the executor interface (``probabilities(circuit, angles: (B,
n_slots), key) -> (B, 2^n)``, qtn bit order) for circuits run by software outside JAX. Inside
``jit`` the batch of slot angles leaves the device through ``jax.pure_callback``; on the host a
:class:`~qtn.quantum.jobs.JobRunner` deduplicates the circuits, answers what its durable cache
holds, and sends the rest in jobs to a *host backend* (pyqpanda3's ``CPUQVM`` or Origin's
cloud: ``qtn.quantum.pyqpanda_executor``; qiskit-aer: ``qtn.quantum.qiskit_executor``). The
PRNG ``key`` of the interface is not used: shot noise comes from a seed per circuit (below),
and from the device itself on a QPU.

A host backend (:class:`HostBackend`) runs one job: ``run_job(circuit, angles: (J, n_slots),
seeds: (J,), timeout_s) -> (J, 2^n)`` estimated probabilities in qtn order. Its ``name``
identifies what produced a result (SDK, simulator or QPU, noise, sampling mode, seed) and keys
the result cache with the circuit and the shots.

Host-side helpers shared by the SDK backends:

- :func:`native_u3_params`: qtn's native U3 + CZ decomposition (``qtn.quantum.noise``) with
  every U3 as concrete ``(theta, phi, lambda)`` angles, for SDK noise models that must see the
  same native gates as qtn's ``noisy`` executor and the quantum bill;
- :func:`circuit_seed` / :func:`sample_frequencies_np`: ``shots`` multinomial counts from a
  distribution with one seed per circuit, derived from (run seed, circuit hash): the same
  circuit gives the same counts in any job, in any run with the same seed;
- :func:`apply_readout_np`: the per-qubit readout confusion of a device, in numpy.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from qtn.quantum.circuit import Circuit
from qtn.quantum.devices import Device
from qtn.quantum.noise import native_ops
from qtn.quantum.tracker import Tracker, track

SAMPLING = ("seeded", "sdk")


def require(module: str, *, executor: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ImportError naming the extra that installs it. The caller's
    matplotlib backend is kept (:func:`keep_matplotlib_backend`)."""
    try:
        with keep_matplotlib_backend():
            return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"executor {executor!r} needs {module.split('.')[0]!r}, which cannot be imported "
            f"({err}); install the extra: pip install 'qtn[{extra}]'"
        ) from err


@contextlib.contextmanager
def keep_matplotlib_backend() -> Iterator[None]:
    """Keep an import from switching matplotlib's backend: pyqpanda3's import calls
    ``matplotlib.use("Agg", force=True)`` and ``pyplot.switch_backend("agg")``, which closes
    the caller's figures and silences a notebook's inline plots (switching back afterwards
    does not bring the notebook's figure display back). While the import runs, both are
    no-ops. Without matplotlib loaded (nothing plots yet) the import runs as it is."""
    mpl = sys.modules.get("matplotlib")
    if mpl is None:
        yield
        return
    import matplotlib.pyplot as plt  # the SDK imports it anyway

    saved = mpl.use, plt.switch_backend
    mpl.use = plt.switch_backend = lambda *args, **kwargs: None
    try:
        yield
    finally:
        mpl.use, plt.switch_backend = saved


class HostBackend(Protocol):
    """What a :class:`~qtn.quantum.jobs.JobRunner` sends jobs to (see the module docstring)."""

    name: str
    shots: int | None
    max_in_flight: int

    def check(self, circuit: Circuit) -> None: ...

    def run_job(
        self, circuit: Circuit, angles: np.ndarray, seeds: np.ndarray, timeout_s: float | None
    ) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class HostExecutor:
    """An executor whose circuits run outside JAX (pyqpanda3, qiskit-aer), through ``jobs``.

    ``name`` is the executor's config name; ``device`` the device model its noise comes from;
    ``shots`` None means exact (noisy) probabilities. Never ``exact``: gradients come from a
    hardware rule (parameter shift, SPSA) or the simulator rule, never from autodiff."""

    name: str
    jobs: Any  # qtn.quantum.jobs.JobRunner (mutable, compared by identity)
    device: Device
    tracker: Tracker | None = None
    exact = False

    @property
    def shots(self) -> int | None:
        return self.jobs.backend.shots

    def check(self, circuit: Circuit) -> None:
        """Raise ValueError if the backend cannot run ``circuit`` (qubits, device coupling)."""
        self.jobs.backend.check(circuit)

    def probabilities(
        self, circuit: Circuit, angles: jax.Array, key: jax.Array, shared_rows: bool = False
    ) -> jax.Array:
        """angles (B, n_slots) -> estimated probabilities (B, 2^n); ``key`` and the
        ``shared_rows`` hint are unused (every row is a circuit of its own on the host)."""
        del key, shared_rows
        track(self.tracker, circuit, angles, shots=self.shots or 0)
        dtype = jnp.result_type(angles.dtype, jnp.float32)
        out = jax.ShapeDtypeStruct((angles.shape[0], circuit.dim), dtype)
        host = functools.partial(_run_on_host, self.jobs, circuit, np.dtype(dtype))
        return jax.pure_callback(host, out, angles, vmap_method="sequential")

    def describe(self) -> dict[str, Any]:
        return {
            "executor": self.name,
            "shots": self.shots,
            "device": self.device.name,
            **self.jobs.describe(),
        }


def _run_on_host(jobs, circuit: Circuit, dtype: np.dtype, angles) -> np.ndarray:
    return np.asarray(jobs.run(circuit, np.asarray(angles, np.float64)), dtype)


def noise_tag(noise) -> str:
    """A compact text of a :class:`~qtn.quantum.devices.NoiseSpec` (part of backend names)."""
    return (f"d1={noise.depolarizing_1q:g},d2={noise.depolarizing_2q:g},"
            f"ad={noise.amplitude_damping:g},pd={noise.phase_damping:g},"
            f"ro={[list(r) for r in noise.readout]}").replace(" ", "")


# ---- seeded shot sampling ----


def circuit_seed(seed: int, circuit_key: str) -> int:
    """A 63-bit seed for one circuit from the run ``seed`` and its canonical hash."""
    digest = hashlib.sha256(f"{int(seed)}/{circuit_key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sample_frequencies_np(probs: np.ndarray, shots: int, seeds: np.ndarray) -> np.ndarray:
    """``shots`` draws from each row of ``probs: (J, K)`` with row j's own ``seeds[j]`` ->
    frequencies (J, K). Rows are clipped at 0 and renormalised first."""
    p = np.clip(np.asarray(probs, np.float64), 0.0, None)
    p = p / p.sum(axis=-1, keepdims=True)
    out = np.empty_like(p)
    for j, (row, seed) in enumerate(zip(p, seeds, strict=True)):
        out[j] = np.random.default_rng(int(seed)).multinomial(shots, row) / shots
    return out


def apply_readout_np(probs: np.ndarray, readout) -> np.ndarray:
    """Per-qubit confusion ``readout[i][j]`` = P(read j | state i): (J, 2^n) -> (J, 2^n)."""
    probs = np.asarray(probs, np.float64)
    batch, dim = probs.shape
    n = dim.bit_length() - 1
    m = np.asarray(readout, np.float64)
    p = probs.reshape((batch,) + (2,) * n)
    for q in range(n):
        p = np.moveaxis(np.tensordot(p, m, axes=((1 + q,), (0,))), -1, 1 + q)
    return p.reshape(batch, dim)


# ---- qtn's native gates with concrete U3 angles ----


def _ry(t):
    c, s = np.cos(t / 2), np.sin(t / 2)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2).astype(complex)


def _rx(t):
    c, s = np.cos(t / 2), -1j * np.sin(t / 2)
    return np.stack([np.stack([c + 0j, s], -1), np.stack([s, c + 0j], -1)], -2)


def _rz(t):
    z = np.zeros_like(t)
    e = np.exp(-0.5j * t)
    return np.stack([np.stack([e, z + 0j], -1), np.stack([z + 0j, np.conj(e)], -1)], -2)


_H = np.array([[1.0, 1.0], [1.0, -1.0]], complex) / np.sqrt(2)
_ROTATIONS = {"ry": _ry, "rx": _rx, "rz": _rz}


def u3_params(u: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """``(theta, phi, lambda)`` of ``u: (B, 2, 2)`` unitaries up to a global phase, with
    ``U3 = [[cos t/2, -e^{i l} sin t/2], [e^{i p} sin t/2, e^{i(p+l)} cos t/2]]`` (qiskit's
    and pyqpanda3's U3): (B, 3)."""
    a, b, c, d = u[:, 0, 0], u[:, 0, 1], u[:, 1, 0], u[:, 1, 1]
    theta = 2 * np.arctan2(np.abs(c), np.abs(a))
    alpha = np.angle(a)
    phi = np.angle(c) - alpha
    lam = np.angle(-b) - alpha
    no_c = np.abs(c) < eps  # diagonal: only phi + lambda is defined
    phi, lam = np.where(no_c, 0.0, phi), np.where(no_c, np.angle(d) - alpha, lam)
    no_a = np.abs(a) < eps  # anti-diagonal: only phi - lambda is defined
    phi, lam = np.where(no_a, np.angle(c) - np.angle(-b), phi), np.where(no_a, 0.0, lam)
    return np.stack([theta, phi, lam], axis=-1)


def native_u3_params(
    circuit: Circuit, angles: np.ndarray
) -> list[tuple[str, tuple[int, ...], np.ndarray | None]]:
    """qtn's native circuit (:func:`qtn.quantum.noise.native_ops`) for ``angles: (B,
    n_slots)``: ``("u3", (q,), params (B, 3))`` or ``("cz", (c, t), None)`` in time order."""
    angles = np.asarray(angles, np.float64)
    batch = angles.shape[0]
    out = []
    for op in native_ops(circuit):
        if op.kind == "cz":
            out.append(("cz", op.qubits, None))
            continue
        m = np.broadcast_to(np.eye(2, dtype=complex), (batch, 2, 2))
        for name, slot, scale in op.factors:
            f = _H[None] if name == "h" else _ROTATIONS[name](scale * angles[:, slot])
            m = f @ m
        out.append(("u3", op.qubits, u3_params(m)))
    return out
