"""Exact batched state-vector simulation in JAX, gates fused into a few blocks.

A circuit is compiled once (cached per template) into blocks of consecutive gates of one
action:

- ``rotation``: single-qubit gates; per qubit their 2x2 product; the state, viewed as
  (B, 2^h, 2^(n-h)) with h = n // 2, is multiplied by the Kronecker product of the first h
  qubits' matrices on the left and of the others' on the right (batched matmuls);
- ``diagonal``: CRZ / CZ (RZ too when it follows them): one phase ``exp(i A @ D) * sign``
  with a constant (slots, 2^n) matrix D of each gate's eigenvalue pattern (they commute);
- ``permutation``: CNOTs as one gather (the reverse pass gathers with the inverse).

The state is kept as one real array ``(B, a, P, c)`` (real and imaginary parts, the imaginary
part only once a complex gate appeared; :mod:`qtn.quantum.state_ops`): XLA:CPU runs real
batched matmuls far faster than complex ones. A first rotation block on |0...0> builds the
product state directly (no matmul).

Gradients come from the adjoint method, not from autodiff through the blocks: the forward
keeps only the angles and the final state; the reverse pass walks the blocks backwards,
uncomputing the state with each block's inverse (every gate is unitary) while carrying the
cotangent, and hands each block's factor cotangents to ``jax.vjp`` of the small function that
built the factors from the angles. No state is stored per gate block: one per run of blocks
(the whole circuit, or one per period where :func:`scan_plan` scans it), and the reverse pass
is the same matmuls and phases as the forward.

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

from qtn.quantum import state_ops as ops
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
    """A simulated state: ``x: (B, a, P, c)`` as :mod:`qtn.quantum.state_ops` lays it out."""

    def __init__(self, x: jax.Array):
        self.x = x

    @property
    def complex(self) -> bool:
        return ops.is_complex(self.x)

    def flat(self) -> tuple[jax.Array, jax.Array | None]:
        """(real, imaginary or None), each (B, 2^n)."""
        b = self.x.shape[0]
        re = self.x[:, :, 0].reshape(b, -1)
        return re, (self.x[:, :, 1].reshape(b, -1) if self.complex else None)


def _rotation(name: str, angle: jax.Array) -> jax.Array:
    """angle: (R,) -> (R, 2, 2) (real for RY, complex for RX / RZ)."""
    return {"ry": gate_mats.ry, "rx": gate_mats.rx, "rz": gate_mats.rz}[name](angle)


COMPLEX_ROTATIONS = frozenset({"rx", "rz"})


def _kron(mats: list[jax.Array]) -> jax.Array:
    """[(R, 2, 2)] * m -> (R, 2^m, 2^m), first = most significant: one broadcast product
    ``K[i, j] = prod_q M_q[i_q, j_q]`` (XLA fuses it into one loop; a chain of outer-product
    einsums became batched dots)."""
    r, m = mats[0].shape[0], len(mats)
    out = None
    for q, mat in enumerate(mats):
        shape = [r] + [1] * (2 * m)
        shape[1 + q] = shape[1 + m + q] = 2
        term = mat.reshape(shape)
        out = term if out is None else out * term
    return out.reshape(r, 2**m, 2**m)


def _qubit_matrices(circuit: Circuit, block: Block, rows: jax.Array, slot_of, real_dtype):
    """Per qubit the product of its gates in the block: list of (R, 2, 2) or None (no gate)."""
    per_qubit: list[jax.Array | None] = [None] * circuit.n_qubits
    for i in block.gate_ids:
        g = circuit.gates[i]
        q = g.qubits[0]
        m = _rotation(g.name, rows[:, slot_of[i]].astype(real_dtype))
        per_qubit[q] = m if per_qubit[q] is None else m @ per_qubit[q]
    return per_qubit


def _as_factor(k: jax.Array) -> ops.Factor:
    return (jnp.real(k), jnp.imag(k)) if jnp.iscomplexobj(k) else (k,)


def _rotation_factors(circuit, block, rows, slot_of, real_dtype):
    """``(left, right)``: the Kronecker products of the first h qubits' and of the other
    qubits' matrices as factors (None for a half without gates)."""
    n, h, r = circuit.n_qubits, circuit.n_qubits // 2, rows.shape[0]
    per_qubit = _qubit_matrices(circuit, block, rows, slot_of, real_dtype)
    halves = []
    for qubits in (range(h), range(h, n)):
        mats = [per_qubit[q] for q in qubits]
        if all(m is None for m in mats):
            halves.append(None)
            continue
        dtype = jnp.result_type(*[m.dtype for m in mats if m is not None])
        eye = jnp.broadcast_to(jnp.eye(2, dtype=dtype), (r, 2, 2))
        halves.append(_as_factor(_kron([m if m is not None else eye for m in mats])))
    return tuple(halves)


def _product_state(circuit, block, rows, slot_of, real_dtype, batch) -> jax.Array:
    """A first rotation block on |0...0>: the product of every qubit's first column."""
    n, h, r = circuit.n_qubits, circuit.n_qubits // 2, rows.shape[0]
    per_qubit = _qubit_matrices(circuit, block, rows, slot_of, real_dtype)
    cols = [(m[:, :, 0] if m is not None else
             jnp.broadcast_to(jnp.array([1.0, 0.0], real_dtype), (r, 2))) for m in per_qubit]
    psi = cols[0]
    for col in cols[1:]:
        psi = (psi[:, :, None] * col[:, None, :]).reshape(r, -1)
    if r != batch:
        psi = jnp.broadcast_to(psi, (batch, psi.shape[1]))
    shape = (batch, 2**h, 2 ** (n - h))
    if jnp.iscomplexobj(psi):
        return ops.from_parts(jnp.real(psi).reshape(shape), jnp.imag(psi).reshape(shape))
    return ops.from_parts(psi.reshape(shape), None)


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


def _phase(circuit, block, rows, slot_of, dtype) -> ops.Factor:
    """The block's diagonal as a phase: ``(sign,)`` without angles, else ``(cos, sin)`` of
    ``A @ D`` times the CZ signs, each (R, a, c)."""
    table, sign, ids = _diagonal_tables(circuit, block)
    h = circuit.n_qubits // 2
    a, c = 2**h, 2 ** (circuit.n_qubits - h)
    if not ids:
        return (jnp.asarray(sign, dtype).reshape(1, a, c),)
    angles = rows[:, [slot_of[i] for i in ids]].astype(dtype)  # (R, d)
    phase = angles @ jnp.asarray(table, dtype)  # (R, 2^n)
    # cos / sin times the CZ signs, materialised by a dot with a diagonal: XLA:CPU would
    # otherwise fuse the trig into the state update and recompute it for every row
    trig = jnp.concatenate([jnp.cos(phase), jnp.sin(phase)]) @ jnp.diag(jnp.asarray(sign, dtype))
    r = phase.shape[0]
    return (trig[:r].reshape(r, a, c), trig[r:].reshape(r, a, c))


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


def _permute(x: jax.Array, source: np.ndarray) -> jax.Array:
    """The basis states of ``x: (B, a, P, c)`` permuted: ``x'[k] = x[source[k]]``."""
    b, a, p, c = x.shape
    flat = jnp.swapaxes(x, 1, 2).reshape(b * p, a * c)[:, source]
    return jnp.swapaxes(flat.reshape(b, p, a, c), 1, 2)


@functools.lru_cache(maxsize=256)
def _input_free(circuit: Circuit, block: Block) -> bool:
    return all(circuit.gates[i].input < 0 for i in block.gate_ids)


def _initial(circuit: Circuit, batch: int, dtype) -> jax.Array:
    h = circuit.n_qubits // 2
    x = jnp.zeros((batch, 2**h, 1, 2 ** (circuit.n_qubits - h)), dtype)
    return x.at[:, 0, 0, 0].set(1.0)


def _factors(circuit: Circuit, block: Block, angles: jax.Array, shared_rows: bool, real,
             batch: int, first: bool):
    """What ``block`` multiplies the state by, from ``angles: (B, n_slots)`` (differentiable):
    the product state for a first rotation block (``first``), ``(left, right)`` factors for
    a rotation, a phase for a diagonal, nothing for a permutation."""
    slot_of = {g: s for s, g in enumerate(circuit.slots)}
    rows = angles[:1] if shared_rows and _input_free(circuit, block) else angles
    if block.action == "rotation":
        if first:
            return _product_state(circuit, block, rows, slot_of, real, batch)
        return _rotation_factors(circuit, block, rows, slot_of, real)
    if block.action == "diagonal":
        return _phase(circuit, block, rows, slot_of, real)
    return ()


def _forward(circuit: Circuit, shared_rows: bool, angles: jax.Array, x: jax.Array | None,
             real, batch: int) -> jax.Array:
    """Apply every block of ``circuit`` to ``x`` (None = |0...0>)."""
    for block in compile_blocks(circuit):
        first = x is None and block.action == "rotation"
        f = _factors(circuit, block, angles, shared_rows, real, batch, first)
        if first:
            x = f
            continue
        if x is None:
            x = _initial(circuit, batch, real)
        if block.action == "rotation":
            for k, right in ((f[0], False), (f[1], True)):
                if k is not None:
                    x = ops.apply_factor(x, k, right)
        elif block.action == "diagonal":
            x = ops.apply_phase(x, f)
        else:
            x = _permute(x, _permutation_table(circuit, block))
    return x if x is not None else _initial(circuit, batch, real)


def _complex_after(circuit: Circuit, block: Block, complex_in: bool) -> bool:
    """Whether the state is complex after ``block`` (static: from the gate names)."""
    if block.action == "rotation":
        return complex_in or any(circuit.gates[i].name in COMPLEX_ROTATIONS
                                 for i in block.gate_ids)
    if block.action == "diagonal":
        return complex_in or bool(_diagonal_tables(circuit, block)[2])
    return complex_in


def _reverse_rotation(y, lam, factors):
    """Undo ``y = L x R^T`` (left applied first) for the state and its cotangent; the
    factors' cotangents (None where a half has no gates)."""
    cts = [None, None]
    for side, right in ((1, True), (0, False)):
        k = factors[side]
        if k is None:
            continue
        inv = ops.dagger(k)
        # two products, not one over [y | lam]: the concatenation and the slices back were
        # copy ops of their own in the QNN's profile
        z, lam_z = ops.apply_factor(y, inv, right), ops.apply_factor(lam, inv, right)
        cts[side] = ops.factor_cotangent(lam, z, k, right)
        y, lam = z, lam_z
    return y, lam, tuple(cts)


def _reverse(circuit: Circuit, shared_rows: bool, complex_in: bool | None, angles: jax.Array,
             y: jax.Array, lam: jax.Array, real, batch: int):
    """The adjoint pass of :func:`_forward`: ``(d angles, d input state or None)`` from the
    final state ``y`` and its cotangent ``lam``; ``complex_in`` is the input state's form
    (None: the run started from |0...0>)."""
    blocks = compile_blocks(circuit)
    forms, state = [], complex_in
    for block in blocks:  # the state's form before each block (None: not yet started)
        forms.append(state)
        state = _complex_after(circuit, block, bool(state))
    g_angles = jnp.zeros_like(angles)
    for block, form in zip(reversed(blocks), reversed(forms), strict=True):
        first = form is None and block.action == "rotation"

        def build(a, block=block, first=first):
            return _factors(circuit, block, a, shared_rows, real, batch, first)

        f, vjp = jax.vjp(build, angles)
        if first:  # the product state the run started from
            (g,) = vjp(lam)
            return g_angles + g, None
        if block.action == "rotation":
            y, lam, ct = _reverse_rotation(y, lam, f)
        elif block.action == "diagonal":
            inv = ops.phase_conj(f)
            x = ops.apply_phase(y, inv)
            ct = (jnp.zeros_like(f[0]),) if len(f) == 1 else ops.phase_cotangent(lam, x, f)
            y, lam = x, ops.apply_phase(lam, inv)
        else:
            source = _permutation_table(circuit, block)
            inverse = np.argsort(source)
            y, lam, ct = _permute(y, inverse), _permute(lam, inverse), ()
        if not form and ops.is_complex(y):  # the block's input was real
            y, lam = ops.real_part(y), ops.real_part(lam)
        (g,) = vjp(ct)
        g_angles = g_angles + g
    return g_angles, (lam if complex_in is not None else None)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _run_from_zero(circuit: Circuit, shared_rows: bool, angles: jax.Array) -> jax.Array:
    """U(angles)|0...0> as a state array; gradients by the adjoint method."""
    return _forward(circuit, shared_rows, angles, None, _real(angles), angles.shape[0])


def _run_from_zero_fwd(circuit, shared_rows, angles):
    y = _run_from_zero(circuit, shared_rows, angles)
    return y, (angles, y)


def _run_from_zero_bwd(circuit, shared_rows, res, lam):
    angles, y = res
    g, _ = _reverse(circuit, shared_rows, None, angles, y, lam, _real(angles), angles.shape[0])
    return (g,)


_run_from_zero.defvjp(_run_from_zero_fwd, _run_from_zero_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _run_from(circuit: Circuit, shared_rows: bool, complex_in: bool, angles: jax.Array,
              x: jax.Array) -> jax.Array:
    """U(angles) applied to the state array ``x`` (complex iff ``complex_in``); gradients by
    the adjoint method."""
    return _forward(circuit, shared_rows, angles, x, _real(angles), angles.shape[0])


def _run_from_fwd(circuit, shared_rows, complex_in, angles, x):
    y = _run_from(circuit, shared_rows, complex_in, angles, x)
    return y, (angles, y)


def _run_from_bwd(circuit, shared_rows, complex_in, res, lam):
    angles, y = res
    return _reverse(circuit, shared_rows, complex_in, angles, y, lam, _real(angles),
                    angles.shape[0])


_run_from.defvjp(_run_from_fwd, _run_from_bwd)


def _real(angles: jax.Array):
    return jnp.result_type(angles.dtype, jnp.float32)


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


def _run(circuit: Circuit, x: jax.Array | None, angles: jax.Array, shared_rows: bool):
    """Every block of ``circuit`` applied to ``x`` (None = |0...0>): a state array."""
    if x is None:
        return _run_from_zero(circuit, shared_rows, angles)
    return _run_from(circuit, shared_rows, ops.is_complex(x), angles, x)


def simulate_state(circuit: Circuit, angles: jax.Array, *, shared_rows: bool = False) -> State:
    """U(angles)|0...0> for each row as a :class:`State`: ``angles: (B, n_slots)``. A
    periodic circuit (:func:`circuit_period`) runs as :func:`scan_plan` says: its first
    period unrolled, one ``lax.scan`` over the following ones, then what is left."""
    if angles.ndim != 2 or angles.shape[1] != circuit.n_slots:
        raise ValueError(
            f"{circuit.name}: angles have shape {angles.shape}, expected (batch, "
            f"{circuit.n_slots})"
        )
    batch = angles.shape[0]
    plan = scan_plan(circuit)
    if plan is None:
        return State(_run(circuit, None, angles, shared_rows))
    a, s = plan.prefix.n_slots, plan.body.n_slots
    first = _run(plan.prefix, None, angles[:, :a], shared_rows)

    def step(x: jax.Array, rows: jax.Array) -> tuple[jax.Array, None]:
        return _run(plan.body, x, rows, shared_rows), None

    stop = a + plan.iterations * s
    rest = jnp.swapaxes(angles[:, a:stop].reshape(batch, plan.iterations, s), 0, 1)
    x = jax.lax.scan(step, first, rest)[0]
    if plan.suffix.gates:
        x = _run(plan.suffix, x, angles[:, stop:], shared_rows)
    return State(x)


def simulate(circuit: Circuit, angles: jax.Array, *, shared_rows: bool = False) -> jax.Array:
    """U(angles)|0...0> for each row: ``angles: (B, n_slots)`` -> amplitudes (B, 2^n), real
    when every gate applied so far was real, complex otherwise."""
    re, im = simulate_state(circuit, angles, shared_rows=shared_rows).flat()
    return re if im is None else jax.lax.complex(re, im)


def state_probabilities(st: State) -> jax.Array:
    """|amplitudes|^2 of a :class:`State`: (B, 2^n)."""
    return jnp.sum(st.x**2, axis=2).reshape(st.x.shape[0], -1)


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
