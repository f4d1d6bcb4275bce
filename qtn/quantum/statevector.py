"""Exact batched state-vector simulation in JAX, gates fused into a few blocks.

A circuit is compiled once (cached per template) into blocks of consecutive gates of one
action:

- ``rotation``: single-qubit gates; per qubit their 2x2 product, then the state
  (B, 2^h, 2^(n-h)) is multiplied by the Kronecker product of the first h qubits' matrices on
  the left and of the others' on the right (two batched matmuls, h = n // 2);
- ``diagonal``: CRZ / CZ (RZ too when it follows them): one phase ``exp(i A @ D) * sign`` with
  a constant (slots, 2^n) matrix D of each gate's eigenvalue pattern (diagonal gates commute);
- ``permutation``: CNOTs as one signed gather (inverse-gather VJP, see ``qtn.tn.layered``).

So a QNN layer (RY, CRZ ring, RY, CRZ ring, RY) is ~3 blocks of a few ops each, and the same
code serves one weight-space circuit (B = 1) or one circuit per token (B = tokens).
Differentiable by autodiff in the slot angles.
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


def _rotation(name: str, angle: jax.Array) -> jax.Array:
    """angle: (B,) -> (B, 2, 2)."""
    return {"ry": gate_mats.ry, "rx": gate_mats.rx, "rz": gate_mats.rz}[name](angle)


def _kron_batched(mats: list[jax.Array]) -> jax.Array:
    """[(B, 2, 2)] * m -> (B, 2^m, 2^m), first = most significant."""
    out = mats[0]
    for m in mats[1:]:
        d = out.shape[-1] * 2
        out = jnp.einsum("bij,bkl->bikjl", out, m).reshape(out.shape[0], d, d)
    return out


def _apply_rotations(circuit: Circuit, block: Block, psi, angles, slot_of):
    n, batch = circuit.n_qubits, psi.shape[0]
    eye = jnp.broadcast_to(jnp.eye(2, dtype=psi.dtype), (batch, 2, 2))
    per_qubit = [eye] * n
    touched = [False] * n
    for i in block.gate_ids:
        g = circuit.gates[i]
        q = g.qubits[0]
        m = _rotation(g.name, angles[:, slot_of[i]]).astype(psi.dtype)
        m = jnp.broadcast_to(m, (batch, 2, 2))
        per_qubit[q] = m @ per_qubit[q] if touched[q] else m
        touched[q] = True
    h = n // 2
    mat = psi.reshape(batch, 2**h, 2 ** (n - h))
    if any(touched[:h]):
        mat = _kron_batched(per_qubit[:h]) @ mat
    if any(touched[h:]):
        mat = mat @ jnp.swapaxes(_kron_batched(per_qubit[h:]), -1, -2)
    return mat.reshape(batch, -1)


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


def _apply_diagonal(circuit: Circuit, block: Block, psi, angles, slot_of):
    table, sign, ids = _diagonal_tables(circuit, block)
    if ids:
        a = angles[:, [slot_of[i] for i in ids]]  # (B, d)
        phase = jnp.exp(1j * (a @ jnp.asarray(table, a.dtype)))
        psi = psi * (phase * jnp.asarray(sign, a.dtype)[None, :]).astype(psi.dtype)
    elif not np.all(sign == 1):
        psi = psi * jnp.asarray(sign, psi.real.dtype)[None, :]
    return psi


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


def simulate(circuit: Circuit, angles: jax.Array) -> jax.Array:
    """U(angles)|0...0> for each row: ``angles: (B, n_slots)`` -> amplitudes (B, 2^n), real
    when every gate is real, complex otherwise."""
    if angles.ndim != 2 or angles.shape[1] != circuit.n_slots:
        raise ValueError(
            f"{circuit.name}: angles have shape {angles.shape}, expected (batch, "
            f"{circuit.n_slots})"
        )
    real = jnp.result_type(angles.dtype, jnp.float32)
    dtype = real if circuit.is_real else (jnp.complex128 if real == jnp.float64 else jnp.complex64)
    slot_of = {g: s for s, g in enumerate(circuit.slots)}
    batch = angles.shape[0]
    psi = jnp.zeros((batch, circuit.dim), dtype).at[:, 0].set(1.0)
    for block in compile_blocks(circuit):
        if block.action == "rotation":
            psi = _apply_rotations(circuit, block, psi, angles, slot_of)
        elif block.action == "diagonal":
            psi = _apply_diagonal(circuit, block, psi, angles, slot_of)
        else:
            psi = _permute(psi, _permutation_table(circuit, block))
    return psi


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
