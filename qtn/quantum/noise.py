"""Noisy simulation: a circuit in a device's native gates (U3 + CZ), each gate followed by the
device's error channels, then the readout confusion.

Native decomposition (static, per template; what a transpiler for U3 + CZ produces when the
circuit embeds in the coupling graph):

- RY / RX / RZ: single-qubit factors; consecutive single-qubit factors on a qubit with no
  two-qubit gate in between merge into one U3 (their matrix product);
- CZ: one CZ; CNOT(c, t) = H_t CZ H_t; CRZ(t)(c, t) = CNOT, RZ(-t/2)_t, CNOT, RZ(t/2)_t
  (two CZs).

Simulation: by density matrix (``rho: (B, 2^n, 2^n)``) up to ``max_density_qubits``, else by
``trajectories`` Monte-Carlo state vectors per circuit (Pauli errors drawn with the
depolarizing probabilities, damping by quantum jumps), averaged. Channel conventions are in
:mod:`qtn.quantum.devices`. Returns probabilities (B, 2^n) after readout confusion.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from qtn.quantum.circuit import Circuit
from qtn.quantum.devices import Device, NoiseSpec
from qtn.tn import gates as gate_mats

_H = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)
_PAULIS = np.stack([np.eye(2), [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])


@dataclass(frozen=True)
class NativeOp:
    """``u``: one U3 on ``qubits[0]``, the product of ``factors`` (time order), each
    ``(name, slot, scale)`` = gate ``name`` at angle ``scale * angles[:, slot]`` (``h``: slot
    -1); ``cz``: a CZ on ``qubits``."""

    kind: str
    qubits: tuple[int, ...]
    factors: tuple[tuple[str, int, float], ...] = ()


@functools.lru_cache(maxsize=256)
def native_ops(circuit: Circuit) -> tuple[NativeOp, ...]:
    """The circuit in U3 + CZ (see module docstring)."""
    slot_of = {g: s for s, g in enumerate(circuit.slots)}
    pending: dict[int, list] = {q: [] for q in range(circuit.n_qubits)}
    ops: list[NativeOp] = []

    def flush(q: int) -> None:
        if pending[q]:
            ops.append(NativeOp("u", (q,), tuple(pending[q])))
            pending[q] = []

    def cz(c: int, t: int) -> None:
        flush(c)
        flush(t)
        ops.append(NativeOp("cz", (c, t)))

    def cnot(c: int, t: int) -> None:
        pending[t].append(("h", -1, 1.0))
        cz(c, t)
        pending[t].append(("h", -1, 1.0))

    for i, g in enumerate(circuit.gates):
        if g.name in ("ry", "rx", "rz"):
            pending[g.qubits[0]].append((g.name, slot_of[i], 1.0))
        elif g.name == "cz":
            cz(*g.qubits)
        elif g.name == "cnot":
            cnot(*g.qubits)
        else:  # crz
            c, t = g.qubits
            cnot(c, t)
            pending[t].append(("rz", slot_of[i], -0.5))
            cnot(c, t)
            pending[t].append(("rz", slot_of[i], 0.5))
    for q in range(circuit.n_qubits):
        flush(q)
    return tuple(ops)


def native_counts(circuit: Circuit) -> dict[str, int]:
    """U3 and CZ counts and depth of the native circuit (unrouted: no SWAPs)."""
    ops = native_ops(circuit)
    level = [0] * circuit.n_qubits
    for op in ops:
        top = max(level[q] for q in op.qubits) + 1
        for q in op.qubits:
            level[q] = top
    return {
        "u3": sum(op.kind == "u" for op in ops),
        "cz": sum(op.kind == "cz" for op in ops),
        "depth": max(level, default=0),
    }


def _u3_matrix(op: NativeOp, angles: jax.Array, dtype) -> jax.Array:
    """(B, 2, 2) product of the op's factors."""
    batch = angles.shape[0]
    out = jnp.broadcast_to(jnp.eye(2, dtype=dtype), (batch, 2, 2))
    for name, slot, scale in op.factors:
        if name == "h":
            m = jnp.broadcast_to(jnp.asarray(_H, dtype), (batch, 2, 2))
        else:
            fn = {"ry": gate_mats.ry, "rx": gate_mats.rx, "rz": gate_mats.rz}[name]
            m = fn(scale * angles[:, slot]).astype(dtype)
        out = m @ out
    return out


def _cz_signs(n: int, c: int, t: int) -> np.ndarray:
    k = np.arange(2**n)
    bc, bt = (k >> (n - 1 - c)) & 1, (k >> (n - 1 - t)) & 1
    return 1.0 - 2.0 * (bc & bt)


# ---- density matrices: rho (B, 2, ..., 2 [rows], 2, ..., 2 [cols]) ----


def _on_qubit(rho: jax.Array, n: int, q: int, fn) -> jax.Array:
    """Apply ``fn`` to rho viewed as (..., 2 row_q, 2 col_q)."""
    moved = jnp.moveaxis(rho, (1 + q, 1 + n + q), (-2, -1))
    return jnp.moveaxis(fn(moved), (-2, -1), (1 + q, 1 + n + q))


def _conjugate(rho, n, q, u):  # u: (B, 2, 2)
    extra = rho.ndim - 3
    shape = (u.shape[0],) + (1,) * extra + (2, 2)
    uu = u.reshape(shape)
    return _on_qubit(rho, n, q, lambda r: uu @ r @ jnp.conj(jnp.swapaxes(uu, -1, -2)))


def _channels(rho, n, q, depol, noise: NoiseSpec):
    def depolarize(r):
        tr = r[..., 0, 0] + r[..., 1, 1]
        eye = jnp.eye(2, dtype=r.dtype).reshape((1,) * (r.ndim - 2) + (2, 2))
        return (1 - depol) * r + (depol / 2) * tr[..., None, None] * eye

    def kraus(r, gamma, amplitude):
        k0 = jnp.asarray([[1, 0], [0, np.sqrt(1 - gamma)]], r.dtype)
        k1 = jnp.asarray([[0, np.sqrt(gamma)], [0, 0]] if amplitude else
                         [[0, 0], [0, np.sqrt(gamma)]], r.dtype)
        return sum(jnp.einsum("ij,...jk,lk->...il", k, r, k) for k in (k0, k1))

    if depol > 0:
        rho = _on_qubit(rho, n, q, depolarize)
    if noise.amplitude_damping > 0:
        rho = _on_qubit(rho, n, q, lambda r: kraus(r, noise.amplitude_damping, True))
    if noise.phase_damping > 0:
        rho = _on_qubit(rho, n, q, lambda r: kraus(r, noise.phase_damping, False))
    return rho


def density_probabilities(circuit: Circuit, angles: jax.Array, noise: NoiseSpec) -> jax.Array:
    """Diagonal of the noisy final density matrix (before readout): (B, 2^n)."""
    n, batch = circuit.n_qubits, angles.shape[0]
    dtype = jnp.complex128 if angles.dtype == jnp.float64 else jnp.complex64
    rho = jnp.zeros((batch, 2**n, 2**n), dtype).at[:, 0, 0].set(1.0)
    rho = rho.reshape((batch,) + (2,) * (2 * n))
    for op in native_ops(circuit):
        if op.kind == "u":
            q = op.qubits[0]
            rho = _conjugate(rho, n, q, _u3_matrix(op, angles, dtype))
            rho = _channels(rho, n, q, noise.depolarizing_1q, noise)
        else:
            s = jnp.asarray(_cz_signs(n, *op.qubits), dtype).reshape((2,) * n)
            rho = rho * s.reshape((1,) + s.shape + (1,) * n) * s.reshape((1,) + (1,) * n + s.shape)
            for q in op.qubits:
                rho = _channels(rho, n, q, noise.depolarizing_2q, noise)
    flat = rho.reshape(batch, 2**n, 2**n)
    return jnp.real(jnp.diagonal(flat, axis1=1, axis2=2))


# ---- trajectories: psi (R, 2, ..., 2), R = B * trajectories ----


def _apply_1q(psi, q, u):  # u: (R, 2, 2)
    moved = jnp.moveaxis(psi, 1 + q, -1)
    out = jnp.einsum("r...j,rij->r...i", moved, u)
    return jnp.moveaxis(out, -1, 1 + q)


def _trajectory_channels(psi, q, depol, noise: NoiseSpec, key):
    k_pauli, k_amp, k_phase = jax.random.split(key, 3)
    reps = psi.shape[0]
    if depol > 0:  # (1 - l) rho + l I/2 = (1 - 3l/4) rho + l/4 (X rho X + Y rho Y + Z rho Z)
        u = jax.random.uniform(k_pauli, (reps,))
        idx = jnp.where(u < 0.75 * depol, 1 + jnp.floor(u / (0.25 * depol)), 0).astype(int)
        psi = _apply_1q(psi, q, jnp.asarray(_PAULIS, psi.dtype)[jnp.clip(idx, 0, 3)])
    for gamma, amplitude, k in ((noise.amplitude_damping, True, k_amp),
                                (noise.phase_damping, False, k_phase)):
        if gamma > 0:
            moved = jnp.moveaxis(psi, 1 + q, -1)
            p1 = jnp.sum(jnp.abs(moved[..., 1]) ** 2, axis=tuple(range(1, moved.ndim - 1)))
            p_jump = gamma * p1
            jump = jax.random.uniform(k, (reps,)) < p_jump
            k1 = jnp.asarray([[0, 1], [0, 0]] if amplitude else [[0, 0], [0, 1]], psi.dtype)
            k0 = jnp.asarray([[1, 0], [0, np.sqrt(1 - gamma)]], psi.dtype)
            kraus = jnp.where(jump[:, None, None], k1[None], k0[None])
            norm = jnp.where(jump, jnp.sqrt(jnp.maximum(p_jump / gamma, 1e-30)),
                             jnp.sqrt(jnp.maximum(1 - p_jump, 1e-30)))
            psi = _apply_1q(psi, q, kraus) / norm.reshape((reps,) + (1,) * (psi.ndim - 1))
    return psi


def trajectory_probabilities(
    circuit: Circuit, angles: jax.Array, noise: NoiseSpec, key: jax.Array, trajectories: int
) -> jax.Array:
    """Mean of |psi|^2 over ``trajectories`` noisy runs per circuit (before readout)."""
    n, batch = circuit.n_qubits, angles.shape[0]
    dtype = jnp.complex128 if angles.dtype == jnp.float64 else jnp.complex64
    reps = batch * trajectories
    rep_angles = jnp.repeat(angles, trajectories, axis=0)
    psi = jnp.zeros((reps, 2**n), dtype).at[:, 0].set(1.0).reshape((reps,) + (2,) * n)
    for i, op in enumerate(native_ops(circuit)):
        k = jax.random.fold_in(key, i)
        if op.kind == "u":
            q = op.qubits[0]
            psi = _apply_1q(psi, q, _u3_matrix(op, rep_angles, dtype))
            psi = _trajectory_channels(psi, q, noise.depolarizing_1q, noise, k)
        else:
            psi = psi * jnp.asarray(_cz_signs(n, *op.qubits), dtype).reshape((1,) + (2,) * n)
            for j, q in enumerate(op.qubits):
                psi = _trajectory_channels(
                    psi, q, noise.depolarizing_2q, noise, jax.random.fold_in(k, j)
                )
    probs = jnp.abs(psi.reshape(batch, trajectories, 2**n)) ** 2
    return jnp.mean(probs, axis=1)


def apply_readout(probs: jax.Array, readout) -> jax.Array:
    """Per-qubit confusion ``readout[i][j]`` = P(read j | state i): (B, 2^n) -> (B, 2^n)."""
    batch, dim = probs.shape
    n = dim.bit_length() - 1
    m = jnp.asarray(readout, probs.dtype)
    p = probs.reshape((batch,) + (2,) * n)
    for q in range(n):
        p = jnp.moveaxis(jnp.tensordot(p, m, axes=((1 + q,), (0,))), -1, 1 + q)
    return p.reshape(batch, dim)


def noisy_probabilities(
    circuit: Circuit,
    angles: jax.Array,
    device: Device,
    *,
    key: jax.Array,
    trajectories: int = 100,
    max_density_qubits: int = 10,
) -> jax.Array:
    """The measured distribution of ``circuit`` on ``device`` (gate noise + readout):
    angles (B, n_slots) -> (B, 2^n)."""
    device.check(circuit)
    noise = device.noise
    if circuit.n_qubits <= max_density_qubits:
        probs = density_probabilities(circuit, angles, noise)
    else:
        probs = trajectory_probabilities(circuit, angles, noise, key, trajectories)
    probs = probs.astype(jnp.result_type(angles.dtype, jnp.float32))
    return apply_readout(probs, noise.readout)
