"""Exact simulation of small circuits (n <= :data:`DENSE_MAX_QUBITS`) by dense unitaries.

For circuits whose per-row (input) angles sit only on single-qubit rotations — the paper's
per-token QNN: ``RY(h_i)`` encodings re-uploaded between weight-only layers — the gates split
into runs:

- a *shared* run (no input angle; the same weights in every row, as
  ``Circuit.slot_angles(weights, inputs)`` gives them) becomes one dense 2^n x 2^n unitary,
  built once from row 0 and applied to every row's state as one real GEMM on
  ``[re | im]``: (B, 2·2^n) @ (2·2^n, 2·2^n);
- a *per-row* run (rotations with inputs) is applied qubit by qubit as a batched 2x2 product
  on the state viewed as (B, 2^q, 2, 2^(n-q-1)); on |0...0> it builds the product state.

A few dozen XLA ops per QNN layer instead of the fused-block simulator's hundreds: the
per-token QNN of every adapted module compiles in a fraction of the time
(:mod:`qtn.quantum.statevector` keeps larger circuits, where 2^(2n) per row would dominate
the FLOPs). Same conventions as :mod:`qtn.quantum.statevector` (qubit 0 = most significant bit).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from qtn.quantum.circuit import Circuit
from qtn.quantum.statevector import bits

DENSE_MAX_QUBITS = 6
"""Largest circuit simulated densely: 2^(2n) multiply-adds per row and shared run (4,096 at
n = 6) stay below the fused-block simulator's cost there; beyond, the latter wins."""


@dataclass(frozen=True)
class Run:
    """Consecutive gates (indices into ``circuit.gates``): ``per_row`` when they read inputs."""

    per_row: bool
    gate_ids: tuple[int, ...]


def dense_eligible(circuit: Circuit) -> bool:
    """Whether :func:`dense_probabilities` can run ``circuit``: at most
    :data:`DENSE_MAX_QUBITS` qubits and inputs only on single-qubit rotations."""
    if circuit.n_qubits > DENSE_MAX_QUBITS:
        return False
    return all(g.input < 0 or g.kind.action == "rotation" for g in circuit.gates)


@functools.lru_cache(maxsize=256)
def gate_runs(circuit: Circuit) -> tuple[Run, ...]:
    """Maximal runs of per-row (input-reading) and shared gates, in time order."""
    runs: list[tuple[bool, list[int]]] = []
    for i, g in enumerate(circuit.gates):
        per_row = g.input >= 0
        if runs and runs[-1][0] == per_row:
            runs[-1][1].append(i)
        else:
            runs.append((per_row, [i]))
    return tuple(Run(p, tuple(ids)) for p, ids in runs)


def _ctype(x) -> jnp.dtype:
    """complex128 for float64 angles, complex64 otherwise."""
    return jnp.complex128 if jnp.dtype(getattr(x, "dtype", x)) == jnp.float64 else jnp.complex64


# R(t) = cos(t/2)·I + sin(t/2)·G for each rotation (quimb's conventions, qtn.tn.gates)
_ROTATION_G = {
    "ry": np.array([[0, -1], [1, 0]], np.complex128),
    "rx": np.array([[0, -1j], [-1j, 0]], np.complex128),
    "rz": np.array([[-1j, 0], [0, 1j]], np.complex128),
}


def _rotations(names: tuple[str, ...], theta: jax.Array, real: bool) -> jax.Array:
    """``theta: (..., k)`` angles of rotations ``names`` (k) -> (..., k, 2, 2), real when
    ``real`` (all RY), complex otherwise: one cos and one sin whatever the gate names."""
    g = np.stack([_ROTATION_G[n] for n in names])  # (k, 2, 2)
    dtype = theta.dtype if real else _ctype(theta)
    g = jnp.asarray(g.real if real else g, dtype)
    c, s = jnp.cos(theta / 2).astype(dtype), jnp.sin(theta / 2).astype(dtype)
    full = theta.shape + (2, 2)
    eye = jnp.broadcast_to(jnp.eye(2, dtype=dtype), full)
    return c[..., None, None] * eye + s[..., None, None] * jnp.broadcast_to(g, full)


def _per_qubit(circuit: Circuit, ids: tuple[int, ...], mats: jax.Array) -> list[jax.Array]:
    """``mats: (..., k, 2, 2)`` of rotations ``ids`` -> per qubit (0..n-1) the product of its
    gates in time order (the identity for a qubit without one)."""
    out: dict[int, jax.Array] = {}
    for j, i in enumerate(ids):
        q = circuit.gates[i].qubits[0]
        m = mats[..., j, :, :]
        out[q] = m if q not in out else m @ out[q]
    eye = jnp.broadcast_to(jnp.eye(2, dtype=mats.dtype), mats.shape[:-3] + (2, 2))
    return [out.get(q, eye) for q in range(circuit.n_qubits)]


def _kron(mats: list[jax.Array]) -> jax.Array:
    """[(..., 2, 2)] * n -> (..., 2^n, 2^n), the first factor most significant."""
    out = mats[0]
    for m in mats[1:]:
        d = 2 * out.shape[-1]
        out = jnp.einsum("...ij,...kl->...ikjl", out, m).reshape(out.shape[:-2] + (d, d))
    return out


def _sub_blocks(circuit: Circuit, run: Run) -> list[tuple[str, tuple[int, ...]]]:
    """The run's consecutive gates of one action (rotation / diagonal / permutation)."""
    blocks: list[tuple[str, list[int]]] = []
    for i in run.gate_ids:
        action = circuit.gates[i].kind.action
        if blocks and blocks[-1][0] == action:
            blocks[-1][1].append(i)
        else:
            blocks.append((action, [i]))
    return [(a, tuple(ids)) for a, ids in blocks]


def _structure(circuit: Circuit, run: Run) -> tuple:
    """What a run's unitary depends on besides its angles (names and qubits, in order)."""
    return tuple((circuit.gates[i].name, circuit.gates[i].qubits) for i in run.gate_ids)


def _shared_unitaries(circuit: Circuit, runs: list[Run], row: jax.Array, slot_of) -> jax.Array:
    """The unitaries of shared ``runs`` of one structure, built together from one row of slot
    angles ``row: (n_slots,)``: (len(runs), 2^n, 2^n) complex."""
    n, dim = circuit.n_qubits, circuit.dim
    b = bits(n).astype(np.float64)
    ctype = _ctype(row)
    first = runs[0]
    u = None
    offset = 0
    for action, ids in _sub_blocks(circuit, first):
        span = [tuple(r.gate_ids[offset : offset + len(ids)]) for r in runs]
        offset += len(ids)
        if action == "rotation":
            names = tuple(circuit.gates[i].name for i in ids)
            theta = row[np.asarray([[slot_of[i] for i in g] for g in span])]  # (G, k)
            k = _kron(_per_qubit(circuit, ids, _rotations(names, theta, real=False)))
            u = k if u is None else k @ u
        elif action == "diagonal":  # CRZ: diag(1, 1, e^{-it/2}, e^{it/2}); CZ: signs
            sign, table, cols = np.ones(dim), [], []
            for j, i in enumerate(ids):
                c, t = circuit.gates[i].qubits
                if circuit.gates[i].name == "cz":
                    sign *= 1 - 2 * b[:, c] * b[:, t]
                else:
                    table.append(b[:, c] * (b[:, t] - 0.5))
                    cols.append(j)
            diag = jnp.broadcast_to(jnp.asarray(sign, ctype), (len(runs), dim))
            if table:
                theta = row[np.asarray([[slot_of[g[j]] for j in cols] for g in span])]
                phase = theta @ jnp.asarray(np.stack(table), row.dtype)  # (G, 2^n)
                diag = diag * jnp.exp(1j * phase.astype(ctype))
            u = jax.vmap(jnp.diag)(diag) if u is None else diag[..., :, None] * u
        else:  # CNOTs: (P u)[j] = u[source[j]]
            image = b.astype(np.int64)
            for i in ids:
                c, t = circuit.gates[i].qubits
                image[:, t] ^= image[:, c]
            source = np.empty(dim, np.int64)
            source[image @ (1 << (n - 1 - np.arange(n)))] = np.arange(dim)
            eye = jnp.broadcast_to(jnp.eye(dim, dtype=ctype), (len(runs), dim, dim))
            u = (eye if u is None else u)[:, source]
    return u


def _apply_shared(re: jax.Array, im: jax.Array | None, u: jax.Array, real: bool):
    """``state @ u^T`` for state = re + i·im: (B, 2^n) each, as one real GEMM (``real``: u
    has no imaginary part)."""
    ur = jnp.real(u).T.astype(re.dtype)
    if real:
        return re @ ur, (None if im is None else im @ ur)
    ui = jnp.imag(u).T.astype(re.dtype)
    if im is None:  # a real state: re @ (ur + i ui)
        out = re @ jnp.concatenate([ur, ui], axis=1)
    else:
        big = jnp.concatenate(
            [jnp.concatenate([ur, ui], axis=1), jnp.concatenate([-ui, ur], axis=1)], axis=0
        )
        out = jnp.concatenate([re, im], axis=1) @ big
    dim = re.shape[1]
    return out[:, :dim], out[:, dim:]


REAL_SHARED = ("ry", "cz", "cnot")


def _real_gates(circuit: Circuit, run: Run, names: tuple[str, ...] = ("ry",)) -> bool:
    """Whether every gate of ``run`` is one of ``names`` (real gates)."""
    return all(circuit.gates[i].name in names for i in run.gate_ids)


def _row_operator(circuit: Circuit, run: Run, angles: jax.Array, slot_of) -> jax.Array:
    """Each row's operator of a per-row run: (B, 2^n, 2^n), real when the run is RY only."""
    names = tuple(circuit.gates[i].name for i in run.gate_ids)
    theta = angles[:, np.asarray([slot_of[i] for i in run.gate_ids])]
    mats = _rotations(names, theta, _real_gates(circuit, run))
    return _kron(_per_qubit(circuit, run.gate_ids, mats))


def _apply_rows(re, im, op: jax.Array):
    """``op[b] @ state[b]`` per row; ``op``: (B, 2^n, 2^n) real or complex."""
    def mv(k, v):
        return jnp.einsum("bij,bj->bi", k, v)

    if not jnp.iscomplexobj(op):
        return mv(op, re), (None if im is None else mv(op, im))
    opr, opi = jnp.real(op).astype(re.dtype), jnp.imag(op).astype(re.dtype)
    if im is None:
        return mv(opr, re), mv(opi, re)
    return mv(opr, re) - mv(opi, im), mv(opr, im) + mv(opi, re)


def _row_key(circuit: Circuit, run: Run) -> tuple:
    """Per-row runs with equal keys apply the same operator (same gates, same angle sources):
    the QNN's re-uploaded encodings are built once."""
    return tuple(circuit.gates[i] for i in run.gate_ids)


def dense_probabilities(circuit: Circuit, angles: jax.Array) -> jax.Array:
    """|<k|U|0>|^2 for each row: ``angles: (B, n_slots)`` with the weight-only slots equal in
    every row (``shared_rows``) -> (B, 2^n). Raises ValueError for a circuit that is not
    :func:`dense_eligible`."""
    if not dense_eligible(circuit):
        raise ValueError(
            f"{circuit.name}: dense simulation needs <= {DENSE_MAX_QUBITS} qubits and inputs "
            f"only on single-qubit rotations"
        )
    if angles.ndim != 2 or angles.shape[1] != circuit.n_slots:
        raise ValueError(f"{circuit.name}: angles have shape {angles.shape}, expected (batch, "
                         f"{circuit.n_slots})")
    dtype = jnp.result_type(angles.dtype, jnp.float32)
    angles = angles.astype(dtype)
    batch = angles.shape[0]
    slot_of = {g: s for s, g in enumerate(circuit.slots)}
    runs = gate_runs(circuit)
    # every shared unitary up front, runs of one structure built together (one batch dim)
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        if not run.per_row:
            groups.setdefault(_structure(circuit, run), []).append(run)
    unitary: dict[Run, jax.Array] = {}
    for same in groups.values():
        built = _shared_unitaries(circuit, same, angles[0], slot_of)
        unitary.update({run: built[g] for g, run in enumerate(same)})
    row_ops: dict[tuple, jax.Array] = {}
    re = im = None
    for run in runs:
        if run.per_row:
            key = _row_key(circuit, run)
            if key not in row_ops:
                row_ops[key] = _row_operator(circuit, run, angles, slot_of)
            op = row_ops[key]
            if re is None:  # on |0...0>: the operator's first column
                col = op[:, :, 0]
                re, im = (col, None) if not jnp.iscomplexobj(col) else (
                    jnp.real(col).astype(dtype), jnp.imag(col).astype(dtype))
            else:
                re, im = _apply_rows(re, im, op)
            continue
        if re is None:
            re = jnp.zeros((batch, circuit.dim), dtype).at[:, 0].set(1.0)
        re, im = _apply_shared(re, im, unitary[run], _real_gates(circuit, run, REAL_SHARED))
    if re is None:
        re = jnp.zeros((batch, circuit.dim), dtype).at[:, 0].set(1.0)
    return re**2 if im is None else re**2 + im**2
