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


def _runtime_basis_zero(like: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    """|0...0> (a 1 at index 0 of every trailing axis) of ``shape``, computed from ``like``
    at run time: as a constant, XLA folds it and every transpose of it into the program
    (seconds of compile and a batch-sized constant: 29 MB for a 4-qubit parameter-shift
    step's density matrices)."""
    zero = (jnp.sum(like[:1]) * 0).astype(dtype)  # a traced 0 (not folded: NaN semantics)
    one_hot = jnp.zeros(shape[1:], dtype).at[(0,) * (len(shape) - 1)].set(1.0)
    return jnp.broadcast_to(one_hot, shape) + zero


def density_probabilities(circuit: Circuit, angles: jax.Array, noise: NoiseSpec) -> jax.Array:
    """Diagonal of the noisy final density matrix (before readout): (B, 2^n)."""
    n, batch = circuit.n_qubits, angles.shape[0]
    dtype = jnp.complex128 if angles.dtype == jnp.float64 else jnp.complex64
    rho = _runtime_basis_zero(angles, (batch, 2**n, 2**n), dtype)
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


# ---- trajectories: psi (R, 2^n), R = B * trajectories, one lax.scan over native ops ----
#
# The native circuit becomes a table of uniform steps: [CZ(c, t)] -> a U3 on qubit q (the
# product of up to F factors, identity-padded) -> the noise channels on q. A CZ is two steps
# (the CZ + the channels on c, then the channels on t). The depolarizing Pauli is drawn before
# it is applied (it does not depend on the state) and folded into the step's U3: one pass over
# the state per step, plus one per damping channel. The scan compiles one step per qubit
# (lax.switch on q) instead of unrolling every gate and channel: a 12-qubit core inside a
# parameter-shift batch compiles in seconds, not tens of minutes.

_GATE_IDS = {"id": 0, "ry": 1, "rx": 2, "rz": 3, "h": 4}


@dataclass(frozen=True)
class _StepTable:
    """Per step: the U3's factors ``gate``/``slot``/``scale`` (S, F) (gate 0: identity),
    ``qubit`` (S,), ``cz`` (S, 2) (-1: none), ``channel`` (S,) (1: after a U3, 2: after a CZ),
    and the random key's path ``fold_in(key, op)`` then ``fold_in(., sub)`` (sub -1: none)."""

    gate: np.ndarray
    slot: np.ndarray
    scale: np.ndarray
    qubit: np.ndarray
    cz: np.ndarray
    channel: np.ndarray
    op: np.ndarray
    sub: np.ndarray


@functools.lru_cache(maxsize=256)
def _step_table(circuit: Circuit) -> _StepTable:
    ops = native_ops(circuit)
    width = max([len(op.factors) for op in ops] + [1])
    gate, slot, scale, qubit, cz, channel, op_i, sub = ([] for _ in range(8))

    def row(factors, q, pair, kind, i, j):
        pad = [(0, 0, 0.0)] * (width - len(factors))
        factors = [(_GATE_IDS[name], max(s, 0), a) for name, s, a in factors] + pad
        gate.append([f[0] for f in factors])
        slot.append([f[1] for f in factors])
        scale.append([f[2] for f in factors])
        qubit.append(q), cz.append(pair), channel.append(kind), op_i.append(i), sub.append(j)

    for i, op in enumerate(ops):
        if op.kind == "u":
            row(op.factors, op.qubits[0], (-1, -1), 1, i, -1)
        else:
            c, t = op.qubits
            row((), c, (c, t), 2, i, 0)
            row((), t, (-1, -1), 2, i, 1)
    ints = lambda x: np.asarray(x, np.int32)  # noqa: E731
    return _StepTable(ints(gate), ints(slot), np.asarray(scale, np.float64), ints(qubit),
                      ints(cz), ints(channel), ints(op_i), ints(sub))


def _apply_1q(psi: jax.Array, n: int, q: int, u: jax.Array) -> jax.Array:
    """psi (R, 2^n), u (R, 2, 2) on qubit q (qubit 0 = most significant bit)."""
    reps = psi.shape[0]
    v = psi.reshape(reps, 2**q, 2, 2 ** (n - 1 - q))
    v0, v1 = v[:, :, 0], v[:, :, 1]
    m = u[:, :, :, None, None]  # elementwise: XLA:CPU runs a batched 2x2 dot far slower
    out = jnp.stack([m[:, 0, 0] * v0 + m[:, 0, 1] * v1, m[:, 1, 0] * v0 + m[:, 1, 1] * v1], 2)
    return out.reshape(reps, 2**n)


def _pauli_draw(key, reps: int, depol: jax.Array, dtype) -> jax.Array:
    """(R, 2, 2): X, Y or Z each with probability depol / 4, else I
    ((1 - l) rho + l I/2 = (1 - 3l/4) rho + l/4 (X rho X + Y rho Y + Z rho Z))."""
    u = jax.random.uniform(key, (reps,))
    safe = jnp.where(depol > 0, depol, 1.0)
    idx = jnp.where(u < 0.75 * depol, 1 + jnp.floor(u / (0.25 * safe)), 0).astype(int)
    return jnp.asarray(_PAULIS, dtype)[jnp.clip(idx, 0, 3)]


def _damp(psi, n, q, gamma, amplitude: bool, key):
    """Amplitude (``amplitude``) or phase damping on qubit q by a quantum jump; gamma traced
    (0: no channel)."""
    reps = psi.shape[0]
    v = psi.reshape(reps, 2**q, 2, 2 ** (n - 1 - q))
    p1 = jnp.sum(jnp.abs(v[:, :, 1, :]) ** 2, axis=(1, 2))
    p_jump = gamma * p1
    jump = jax.random.uniform(key, (reps,)) < p_jump
    k1 = jnp.asarray([[0, 1], [0, 0]] if amplitude else [[0, 0], [0, 1]], psi.dtype)
    k0 = jnp.stack([jnp.stack([1.0, 0.0]), jnp.stack([0.0, jnp.sqrt(1 - gamma)])])
    kraus = jnp.where(jump[:, None, None], k1[None], k0.astype(psi.dtype)[None])
    norm = jnp.where(jump, jnp.sqrt(jnp.maximum(p1, 1e-30)),
                     jnp.sqrt(jnp.maximum(1 - p_jump, 1e-30)))
    return _apply_1q(psi, n, q, kraus) / norm[:, None].astype(psi.dtype)


def trajectory_probabilities(
    circuit: Circuit, angles: jax.Array, noise: NoiseSpec, key: jax.Array, trajectories: int
) -> jax.Array:
    """Mean of |psi|^2 over ``trajectories`` noisy runs per circuit (before readout):
    angles (B, n_slots) -> (B, 2^n)."""
    n, batch = circuit.n_qubits, angles.shape[0]
    dtype = jnp.complex128 if angles.dtype == jnp.float64 else jnp.complex64
    real = jnp.float64 if dtype == jnp.complex128 else jnp.float32
    reps = batch * trajectories
    rep_angles = jnp.repeat(angles, trajectories, axis=0)
    if rep_angles.shape[1] == 0:  # no angle slots: the table's slot 0 reads a zero column
        rep_angles = jnp.zeros((reps, 1), angles.dtype)
    table = _step_table(circuit)
    psi = _runtime_basis_zero(rep_angles, (reps, 2**n), dtype)
    if table.qubit.size == 0:
        return jnp.abs(psi.reshape(batch, trajectories, 2**n)[:, 0]) ** 2
    index = jnp.arange(2**n)
    hadamard = jnp.broadcast_to(jnp.asarray(_H, dtype), (reps, 2, 2))
    identity = jnp.broadcast_to(jnp.eye(2, dtype=dtype), (reps, 2, 2))
    depol_of = jnp.asarray([0.0, noise.depolarizing_1q, noise.depolarizing_2q], real)
    # (gamma, amplitude?, index of its key in the step's (k_amp, k_phase)), present ones only
    dampings = [(g, amplitude, i) for i, (g, amplitude) in enumerate(
        ((noise.amplitude_damping, True), (noise.phase_damping, False))) if g > 0]

    def factor(gate, slot, scale):
        theta = scale.astype(real) * jnp.take(rep_angles, slot, axis=1).astype(real)
        return jnp.stack([identity, gate_mats.ry(theta).astype(dtype), gate_mats.rx(theta),
                          gate_mats.rz(theta), hadamard])[gate]

    def branch(q: int):
        def run(psi, u, channel, keys):
            psi = _apply_1q(psi, n, q, u)
            for gamma, amplitude, i in dampings:
                psi = _damp(psi, n, q, jnp.where(channel > 0, gamma, 0.0).astype(real),
                            amplitude, keys[i])
            return psi
        return run

    branches = [branch(q) for q in range(n)]

    def cz_signs(psi, pair):
        bits = (index >> (n - 1 - pair[0])) & (index >> (n - 1 - pair[1])) & 1
        return psi * (1 - 2 * bits).astype(dtype)[None]

    def step(psi, row):
        gate, slot, scale, q, pair, channel, op, sub = row
        psi = jax.lax.cond(pair[0] >= 0, cz_signs, lambda p, _: p, psi, pair)
        u = identity
        for f in range(gate.shape[0]):  # time order: later factors multiply on the left
            u = factor(gate[f], slot[f], scale[f]) @ u
        k = jax.random.fold_in(key, op)
        k = jax.lax.cond(sub >= 0, lambda: jax.random.fold_in(k, sub), lambda: k)
        k_pauli, k_amp, k_phase = jax.random.split(k, 3)
        if noise.depolarizing_1q > 0 or noise.depolarizing_2q > 0:
            u = _pauli_draw(k_pauli, reps, depol_of[channel], dtype) @ u
        return jax.lax.switch(q, branches, psi, u, channel, (k_amp, k_phase)), None

    rows = (table.gate, table.slot, table.scale, table.qubit, table.cz, table.channel,
            table.op, table.sub)
    psi, _ = jax.lax.scan(step, psi, tuple(jnp.asarray(r) for r in rows))
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
