"""Exact batched state-vector simulation in JAX, gates fused into a few blocks.

A circuit is compiled once (cached per template) into blocks of consecutive gates of one
action:

- ``rotation``: single-qubit gates; per qubit their 2x2 product; the state, viewed as
  (B, 2^h, 2^(n-h)) with h = n // 2, is multiplied by the Kronecker product of the first h
  qubits' matrices on the left and of the others' on the right (batched matmuls);
- ``diagonal``: CRZ / CZ (RZ too when it follows them): one phase ``exp(i A @ D) * sign``
  with a constant (slots, 2^n) matrix D of each gate's eigenvalue pattern (they commute);
- ``permutation``: CNOTs as one gather (inverse-gather VJP, not a scatter-add).

The state is kept as real arrays (real and imaginary parts, the imaginary part only once a
complex gate appeared): XLA:CPU runs real batched matmuls far faster than complex ones. A
first rotation block on |0...0> builds the product state directly (no matmul).

``shared_rows=True`` declares that the weight-only slots hold the same angle in every row
(true for ``Circuit.slot_angles(weights, inputs)``, not for parameter-shift batches): blocks
whose slots are all weight-only are then built once from row 0 and applied to all rows by
shared matmuls / one phase vector. For the paper's QNN this shares the CRZ rings and the
middle RY layer across tokens; only the encoding rotation stays per token. Autodiff through
row 0 gives the weights their full gradient (the other rows' copies are unused).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from qtn.quantum.circuit import Circuit
from qtn.tn import gates as gate_mats


@dataclass(frozen=True)
class Block:
    """One fused block: ``action``, the gates' indices into ``circuit.gates`` (time order)."""

    action: str
    gate_ids: tuple[int, ...]


def bits(n: int) -> np.ndarray:
    """(2^n, n) 0/1 table: ``bits(n)[k, q]`` is qubit q of basis state k (qubit 0 = MSB)."""
    k = np.arange(2**n)[:, None]
    return (k >> (n - 1 - np.arange(n))[None, :]) & 1


@functools.lru_cache(maxsize=256)
def compile_blocks(circuit: Circuit) -> tuple[Block, ...]:
    """Group consecutive gates of one action (single-qubit RZ after diagonal gates joins the
    diagonal block; otherwise single-qubit gates are rotations)."""
    blocks: list[tuple[str, list[int]]] = []
    for i, g in enumerate(circuit.gates):
        action = g.kind.action
        if g.name == "rz" and blocks and blocks[-1][0] == "diagonal":
            action = "diagonal"
        if blocks and blocks[-1][0] == action:
            blocks[-1][1].append(i)
        else:
            blocks.append((action, [i]))
    return tuple(Block(a, tuple(ids)) for a, ids in blocks)


class State:
    """Amplitudes as one real array ``x: (P, B, a, c)``: P = 1 (real state) or 2 (real and
    imaginary parts, leading so each part is contiguous); amplitude k = (i, j) with i the
    first h qubits (a = 2^h) and j the others (c = 2^(n-h)). Left factors act on axis 2,
    right factors on axis 3: both are plain (batched) matmuls, no transposes of the state."""

    def __init__(self, x: jax.Array):
        self.x = x

    @property
    def complex(self) -> bool:
        return self.x.shape[0] == 2

    @staticmethod
    def of(re: jax.Array, im: jax.Array | None) -> State:
        """From parts of shape (B, a, c)."""
        return State(jnp.stack([re, im]) if im is not None else re[None])

    def flat(self) -> tuple[jax.Array, jax.Array | None]:
        """(real, imaginary or None), each (B, 2^n)."""
        p, b = self.x.shape[:2]
        parts = self.x.reshape(p, b, -1)
        return parts[0], (parts[1] if p == 2 else None)


def _rotation(name: str, angle: jax.Array) -> jax.Array:
    """angle: (R,) -> (R, 2, 2) (real for RY, complex for RX / RZ)."""
    return {"ry": gate_mats.ry, "rx": gate_mats.rx, "rz": gate_mats.rz}[name](angle)


def _kron(mats: list[jax.Array]) -> jax.Array:
    """[(R, 2, 2)] * m -> (R, 2^m, 2^m), first = most significant."""
    out = mats[0]
    for m in mats[1:]:
        d = out.shape[-1] * 2
        out = jnp.einsum("rij,rkl->rikjl", out, m).reshape(out.shape[0], d, d)
    return out


def _block_matrices(circuit: Circuit, block: Block, rows: jax.Array, slot_of, real_dtype):
    """Per qubit the product of its gates in the block: list of (R, 2, 2) or None (no gate)."""
    per_qubit: list[jax.Array | None] = [None] * circuit.n_qubits
    for i in block.gate_ids:
        g = circuit.gates[i]
        q = g.qubits[0]
        m = _rotation(g.name, rows[:, slot_of[i]].astype(real_dtype))
        per_qubit[q] = m if per_qubit[q] is None else m @ per_qubit[q]
    return per_qubit


def _real_apply(x: jax.Array, k: jax.Array, right: bool) -> jax.Array:
    """x: (P, B, a, c); k: (R, d, d) real, R in {1, B} -> k acting on axis 2 (left) or 3
    (right, as x @ k^T). A shared k on the right is one GEMM over all rows; on the left it is
    broadcast to a batched matmul (measured faster on XLA:CPU than transposing the state)."""
    p, b, a, c = x.shape
    if right:
        if k.shape[0] == 1:
            return (x.reshape(p * b * a, c) @ k[0].T).reshape(x.shape)
        return jnp.matmul(x, jnp.swapaxes(k, 1, 2)[None])
    if k.shape[0] == 1:
        k = jnp.broadcast_to(k, (b, a, a))
    return jnp.matmul(k[None], x)


def _apply_half(st: State, k: jax.Array, right: bool) -> State:
    """Multiply the state by ``k`` (real or complex (R, d, d)) on its left or right factor."""
    if not jnp.iscomplexobj(k):
        return State(_real_apply(st.x, k, right))
    ar = _real_apply(st.x, jnp.real(k), right)
    ai = _real_apply(st.x, jnp.imag(k), right)
    if not st.complex:
        return State(jnp.concatenate([ar, ai]))
    return State(jnp.stack([ar[0] - ai[1], ar[1] + ai[0]]))


def _eye(rows: int, dtype) -> jax.Array:
    return jnp.broadcast_to(jnp.eye(2, dtype=dtype), (rows, 2, 2))


def _apply_rotations(circuit, block, st: State | None, rows, slot_of, real_dtype, batch):
    """The block's rotations; ``st`` None = |0...0> (the product state is built directly)."""
    n = circuit.n_qubits
    h = n // 2
    per_qubit = _block_matrices(circuit, block, rows, slot_of, real_dtype)
    r = rows.shape[0]
    if st is None:  # product state: the first column of every qubit's matrix
        cols = [(m[:, :, 0] if m is not None else
                 jnp.broadcast_to(jnp.array([1.0, 0.0], real_dtype), (r, 2))) for m in per_qubit]
        psi = cols[0]
        for col in cols[1:]:
            psi = (psi[:, :, None] * col[:, None, :]).reshape(r, -1)
        if r != batch:
            psi = jnp.broadcast_to(psi, (batch, psi.shape[1]))
        psi = psi.reshape(batch, 2**h, 2 ** (n - h))
        if jnp.iscomplexobj(psi):
            return State.of(jnp.real(psi), jnp.imag(psi))
        return State.of(psi, None)
    for qubits, right in ((range(h), False), (range(h, n), True)):
        mats = [per_qubit[q] for q in qubits]
        if all(m is None for m in mats):
            continue
        dtype = jnp.result_type(*[m.dtype for m in mats if m is not None])
        k = _kron([m if m is not None else _eye(r, dtype) for m in mats])
        st = _apply_half(st, k, right)
    return st


@functools.lru_cache(maxsize=256)
def _diagonal_tables(circuit: Circuit, block: Block) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(D (slots in block, 2^n) eigenvalue patterns, sign (2^n,) of the CZs, slot gate ids)."""
    b = bits(circuit.n_qubits).astype(np.float64)
    rows, ids = [], []
    sign = np.ones(circuit.dim)
    for i in block.gate_ids:
        g = circuit.gates[i]
        if g.name == "cz":
            sign *= 1 - 2 * b[:, g.qubits[0]] * b[:, g.qubits[1]]
        elif g.name == "crz":
            rows.append(b[:, g.qubits[0]] * (b[:, g.qubits[1]] - 0.5))
            ids.append(i)
        else:  # rz
            rows.append(b[:, g.qubits[0]] - 0.5)
            ids.append(i)
    table = np.stack(rows) if rows else np.zeros((0, circuit.dim))
    return table, sign, tuple(ids)


def _apply_diagonal(circuit, block, st: State, rows, slot_of) -> State:
    table, sign, ids = _diagonal_tables(circuit, block)
    _, b, a, c = st.x.shape
    dtype = st.x.dtype
    if not ids:
        s = jnp.asarray(sign, dtype).reshape(1, 1, a, c)
        return st if np.all(sign == 1) else State(st.x * s)
    angles = rows[:, [slot_of[i] for i in ids]].astype(dtype)  # (R, d)
    phase = angles @ jnp.asarray(table, dtype)  # (R, 2^n)
    # cos / sin times the CZ signs, materialised by a dot with a diagonal: XLA:CPU would
    # otherwise fuse the trig into the state update and recompute it for every row
    trig = jnp.concatenate([jnp.cos(phase), jnp.sin(phase)]) @ jnp.diag(jnp.asarray(sign, dtype))
    r = phase.shape[0]
    cos, sin = trig[:r].reshape(r, a, c), trig[r:].reshape(r, a, c)
    if not st.complex:
        return State(jnp.stack([st.x[0] * cos, st.x[0] * sin]))
    re, im = st.x[0], st.x[1]
    return State(jnp.stack([re * cos - im * sin, re * sin + im * cos]))


@functools.lru_cache(maxsize=256)
def _permutation_table(circuit: Circuit, block: Block) -> np.ndarray:
    """source (2^n,): ``(P psi)[j] = psi[source[j]]`` for the block's CNOTs in time order."""
    n = circuit.n_qubits
    image = bits(n).copy()
    for i in block.gate_ids:
        c, t = circuit.gates[i].qubits
        image[:, t] ^= image[:, c]
    dest = image @ (1 << (n - 1 - np.arange(n)))
    source = np.empty(circuit.dim, np.int64)
    source[dest] = np.arange(circuit.dim)
    return source


def _permute(psi: jax.Array, source: np.ndarray) -> jax.Array:
    """``psi[:, source]`` whose gradient is the inverse gather (not a scatter-add)."""
    inverse = np.argsort(source)

    @jax.custom_vjp
    def permute(v):
        return v[:, source]

    def forward(v):
        return permute(v), None

    def backward(_, g):
        return (g[:, inverse],)

    permute.defvjp(forward, backward)
    return permute(psi)


@functools.lru_cache(maxsize=256)
def _input_free(circuit: Circuit, block: Block) -> bool:
    return all(circuit.gates[i].input < 0 for i in block.gate_ids)


def _initial(circuit: Circuit, batch: int, dtype) -> State:
    h = circuit.n_qubits // 2
    x = jnp.zeros((1, batch, 2**h, 2 ** (circuit.n_qubits - h)), dtype)
    return State(x.at[0, :, 0, 0].set(1.0))


def _permute_state(st: State, source: np.ndarray) -> State:
    p, b, a, c = st.x.shape
    return State(_permute(st.x.reshape(p * b, a * c), source).reshape(p, b, a, c))


# A gate list that repeats (the QNN's layers, an ansatz's depth) at least this many times is
# run as its first period, then one ``lax.scan`` over the others (:func:`scan_plan`): the
# program stops growing with the depth (measured in benchmarks/results/scan.md).
SCAN_MIN_PERIODS = 3


def _sub_circuit(circuit: Circuit, start: int, stop: int, tag: str) -> Circuit:
    """Gates ``start:stop`` of ``circuit`` as a circuit with its weight and input counts."""
    return Circuit(circuit.n_qubits, circuit.gates[start:stop], circuit.n_weights,
                   circuit.n_inputs, name=f"{circuit.name}[{tag}]")


@functools.lru_cache(maxsize=256)
def circuit_period(circuit: Circuit) -> tuple[Circuit, int] | None:
    """``(one period as a circuit, count)`` for the shortest period of ``circuit.gates``
    (same gate names, qubits and angle sources, up to the weight / input indices) that repeats
    ``>= SCAN_MIN_PERIODS`` times; None otherwise. The period circuit keeps the full
    circuit's weight and input counts, so its slots are the first ``n_slots / count``."""
    gates = circuit.gates
    sig = [(g.name, g.qubits, g.weight >= 0, g.input >= 0) for g in gates]
    n = len(gates)
    for p in range(1, n // SCAN_MIN_PERIODS + 1):
        if n % p == 0 and all(sig[i] == sig[i % p] for i in range(p, n)):
            return _sub_circuit(circuit, 0, p, "period"), n // p
    return None


@dataclass(frozen=True)
class ScanPlan:
    """A periodic circuit as ``prefix``, ``iterations`` x ``body``, ``suffix`` (gate lists
    as circuits; the suffix may be empty). The prefix holds the whole first period, so the
    state has its final real / complex form before the scan. Where a period's last block
    fuses with the next period's first (the rotation layer ending a QNN layer and the
    encoding starting the next), the body starts after the period's first block, so that
    fusion happens inside the body as it does unrolled."""

    prefix: Circuit
    body: Circuit
    iterations: int
    suffix: Circuit


@functools.lru_cache(maxsize=256)
def scan_plan(circuit: Circuit) -> ScanPlan | None:
    """How :func:`simulate_state` scans ``circuit``; None when it has no period."""
    found = circuit_period(circuit)
    if found is None:
        return None
    period, count = found
    p = len(period.gates)
    blocks = compile_blocks(period)
    fused = len(compile_blocks(_sub_circuit(circuit, 0, 2 * p, "2 periods"))) < 2 * len(blocks)
    shift = len(blocks[0].gate_ids) if fused else 0
    iterations = count - 1 - (1 if shift else 0)
    start = p + shift
    return ScanPlan(
        prefix=_sub_circuit(circuit, 0, start, "prefix"),
        body=_sub_circuit(circuit, start, start + p, "body"),
        iterations=iterations,
        suffix=_sub_circuit(circuit, start + iterations * p, len(circuit.gates), "suffix"),
    )


def _run_blocks(circuit: Circuit, st: State | None, angles: jax.Array, shared_rows: bool,
                real, batch: int) -> State:
    """Apply every block of ``circuit`` to ``st`` (None = |0...0>); ``angles: (B, n_slots)``."""
    slot_of = {g: s for s, g in enumerate(circuit.slots)}
    for block in compile_blocks(circuit):
        rows = angles[:1] if shared_rows and _input_free(circuit, block) else angles
        if block.action == "rotation":
            st = _apply_rotations(circuit, block, st, rows, slot_of, real, batch)
            continue
        if st is None:
            st = _initial(circuit, batch, real)
        if block.action == "diagonal":
            st = _apply_diagonal(circuit, block, st, rows, slot_of)
        else:
            st = _permute_state(st, _permutation_table(circuit, block))
    return st if st is not None else _initial(circuit, batch, real)


def simulate_state(circuit: Circuit, angles: jax.Array, *, shared_rows: bool = False) -> State:
    """U(angles)|0...0> for each row as a :class:`State`: ``angles: (B, n_slots)``. A
    periodic circuit (:func:`circuit_period`) runs as :func:`scan_plan` says: its first
    period unrolled, one ``lax.scan`` over the following ones, then what is left."""
    if angles.ndim != 2 or angles.shape[1] != circuit.n_slots:
        raise ValueError(
            f"{circuit.name}: angles have shape {angles.shape}, expected (batch, "
            f"{circuit.n_slots})"
        )
    real = jnp.result_type(angles.dtype, jnp.float32)
    batch = angles.shape[0]
    plan = scan_plan(circuit)
    if plan is None:
        return _run_blocks(circuit, None, angles, shared_rows, real, batch)
    a, s = plan.prefix.n_slots, plan.body.n_slots
    first = _run_blocks(plan.prefix, None, angles[:, :a], shared_rows, real, batch)

    def step(x: jax.Array, rows: jax.Array) -> tuple[jax.Array, None]:
        return _run_blocks(plan.body, State(x), rows, shared_rows, real, batch).x, None

    stop = a + plan.iterations * s
    rest = jnp.swapaxes(angles[:, a:stop].reshape(batch, plan.iterations, s), 0, 1)
    st = State(jax.lax.scan(step, first.x, rest)[0])
    if plan.suffix.gates:
        st = _run_blocks(plan.suffix, st, angles[:, stop:], shared_rows, real, batch)
    return st


def simulate(circuit: Circuit, angles: jax.Array, *, shared_rows: bool = False) -> jax.Array:
    """U(angles)|0...0> for each row: ``angles: (B, n_slots)`` -> amplitudes (B, 2^n), real
    when every gate applied so far was real, complex otherwise."""
    re, im = simulate_state(circuit, angles, shared_rows=shared_rows).flat()
    return re if im is None else jax.lax.complex(re, im)


def state_probabilities(st: State) -> jax.Array:
    """|amplitudes|^2 of a :class:`State`: (B, 2^n)."""
    return jnp.sum(st.x**2, axis=0).reshape(st.x.shape[1], -1)


def probabilities(amps: jax.Array) -> jax.Array:
    """|amplitudes|^2: (..., 2^n) real."""
    if jnp.iscomplexobj(amps):
        return jnp.real(amps) ** 2 + jnp.imag(amps) ** 2
    return amps**2


def z_expectations(probs: jax.Array) -> jax.Array:
    """<Z_q> = sum_k p_k (1 - 2 bit_q(k)): (..., 2^n) -> (..., n)."""
    n = probs.shape[-1].bit_length() - 1
    signs = jnp.asarray(1 - 2 * bits(n), probs.dtype)
    return probs @ signs
