"""Small circuits as dense unitaries, built with a handful of batched ops.

For a few qubits every gate tensor is tiny and a pairwise contraction per gate costs more in
dispatch than in arithmetic. Here each layer is built at once (Kronecker product of its
rotations, times the constant entangler matrix of that layer) and the L layer matrices are
multiplied in a log-depth batched product: ~n + log2(L) ops instead of ~n·L contractions.
Costs 2·L·8^n multiply-adds, so it is only used for small n (``LAYERED_MAX_QUBITS``).
``layered_state`` does the same for U|0> (measured readouts), a state instead of a matrix, and
``layered_apply`` for U applied to a batch of input vectors (a large unitary circuit that is a
whole layer: the matrix is never built).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qtn.tn.ansatz import CircuitSpec, rotation_gates

LAYERED_MAX_QUBITS = 6
APPLY_GROUP = 4  # qubits per Kronecker factor in layered_apply (16 x 16 matmuls)


def entangler_layers(spec: CircuitSpec, n: int) -> np.ndarray:
    """Constant (depth, 2^n, 2^n) matrices: the entanglers of each layer, in time order
    (the dense form of :func:`entangler_permutations`)."""
    source, sign = entangler_permutations(spec, n)
    out = np.zeros((spec.depth, 2**n, 2**n))
    rows = np.arange(2**n)
    for layer in range(spec.depth):
        out[layer, rows, source[layer]] = sign[layer]
    return out


def _layer_krons(rots: jax.Array, qubits: range) -> jax.Array:
    """Per layer, the Kronecker product of the rotations on ``qubits`` (first = most
    significant): rots (depth, n, 2, 2) -> (depth, 2^len, 2^len)."""
    depth = rots.shape[0]
    if not qubits:
        return jnp.ones((depth, 1, 1), rots.dtype)
    out = rots[:, qubits[0]]
    for q in qubits[1:]:
        d = out.shape[-1] * 2
        out = jnp.einsum("lab,lcd->lacbd", out, rots[:, q]).reshape(depth, d, d)
    return out


def _kron_flops(depth: int, m: int) -> int:
    """Writes of ``_layer_krons`` over m qubits."""
    return depth * sum(4 ** (q + 1) for q in range(1, m))


def layered_unitary(spec: CircuitSpec, angles: jax.Array, n: int) -> jax.Array:
    """U: (2^n, 2^n) [out, in], equal to ``circuit_unitary`` (same gate order)."""
    rots = rotation_gates(spec, angles)  # (depth, n, 2, 2)
    kron = _layer_krons(rots, range(n))
    ents = jnp.asarray(entangler_layers(spec, n), rots.dtype)
    mats = ents @ kron  # layer l: rotations first, then its entanglers
    while mats.shape[0] > 1:  # log-depth product, later layers on the left
        odd = mats[-1:] if mats.shape[0] % 2 else None
        pairs = mats[: mats.shape[0] // 2 * 2]
        mats = pairs[1::2] @ pairs[0::2]
        if odd is not None:
            mats = jnp.concatenate([mats, odd])
    return mats[0]


def layered_flops(spec: CircuitSpec, n: int) -> int:
    """Multiply-adds of ``layered_unitary``: Kronecker writes + L + (L - 1) matmuls of 2^n."""
    return _kron_flops(spec.depth, n) + (2 * spec.depth - 1) * 8**n


def entangler_permutations(spec: CircuitSpec, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each layer's entanglers as a signed permutation of basis states (CZ and CNOT are
    both): ``(E psi)[j] = sign[l, j] * psi[source[l, j]]``. Returns (source, sign), each
    (depth, 2^n); built from the gates' action on bit strings, never as 2^n x 2^n matrices."""
    dim = 2**n
    bits = (np.arange(dim)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1  # qubit 0 = MSB
    # Where each basis state k goes, per layer: its bits after the layer's gates, and its sign.
    image_bits = np.repeat(bits[None], spec.depth, axis=0)  # (depth, 2^n, n)
    image_sign = np.ones((spec.depth, dim))
    layer = 0
    for op in spec.ops(n):
        if op[0] == "rot":
            layer = op[1]
            continue
        b, q1, q2 = image_bits[layer], op[1], op[2]
        if spec.entangler == "cz":
            image_sign[layer] *= 1 - 2 * (b[:, q1] & b[:, q2])
        else:  # cnot: control q1, target q2
            b[:, q2] ^= b[:, q1]
    image = image_bits @ (1 << (n - 1 - np.arange(n)))  # (depth, 2^n)
    source = np.zeros((spec.depth, dim), np.int64)
    sign = np.ones((spec.depth, dim))
    for layer in range(spec.depth):
        source[layer, image[layer]] = np.arange(dim)
        sign[layer, image[layer]] = image_sign[layer]
    return source, sign


def layered_state(spec: CircuitSpec, angles: jax.Array, n: int) -> jax.Array:
    """U|0...0>: (2^n,), equal to applying the gates one by one. Each layer is two matmuls
    (the state as a 2^h x 2^(n-h) matrix, the Kronecker product of the rotations on each half,
    h = n // 2) and one signed gather (its entanglers): ~3 L + 2 n ops, so large circuits
    compile fast. Costs L (2^(n+h) + 2^(2n-h)) multiply-adds."""
    rots = rotation_gates(spec, angles)  # (depth, n, 2, 2)
    h = n // 2
    left, right = _layer_krons(rots, range(h)), _layer_krons(rots, range(h, n))
    source, sign = entangler_permutations(spec, n)
    psi = jnp.zeros((2**n,), rots.dtype).at[0].set(1.0)
    for layer in range(spec.depth):
        mat = psi.reshape(2**h, 2 ** (n - h))
        psi = (left[layer] @ mat @ right[layer].T).reshape(-1)
        psi = _signed_permutation(psi, source[layer], sign[layer])
    return psi


def _signed_permutation(psi: jax.Array, source: np.ndarray, sign: np.ndarray) -> jax.Array:
    """``sign * psi[..., source]`` for a constant permutation ``source`` of the last axis: a
    multiply when it is the identity (CZ layers), else a gather whose gradient is the inverse
    gather (not the scatter-add XLA would otherwise emit for it)."""
    signs = jnp.asarray(np.reshape(sign, (1,) * (psi.ndim - 1) + (-1,)), psi.dtype)
    if np.array_equal(source, np.arange(source.size)):
        return signs * psi
    inverse = np.argsort(source)

    @jax.custom_vjp
    def permute(v, s):  # the signs are an input: a closed-over array would leak from the jit
        return s * v[..., source]

    def forward(v, s):
        return permute(v, s), s

    def backward(s, g):
        return (s * g)[..., inverse], None

    permute.defvjp(forward, backward)
    return permute(psi, signs)


def layered_state_flops(spec: CircuitSpec, n: int) -> int:
    """Multiply-adds of ``layered_state``: the two half-Kronecker products and per layer two
    matmuls and the signed gather."""
    h = n // 2
    kron = _kron_flops(spec.depth, h) + _kron_flops(spec.depth, n - h)
    return kron + spec.depth * (2 ** (n + h) + 2 ** (2 * n - h) + 2**n)


def layered_apply(
    spec: CircuitSpec, angles: jax.Array, n: int, x: jax.Array, group: int = APPLY_GROUP
) -> jax.Array:
    """U applied to every row of ``x``: (batch, 2^n) -> (batch, 2^n), ``y[b] = U x[b]`` (equal
    to ``x @ layered_unitary(...).T``), without building U.

    Per layer, the rotations of each run of ``group`` qubits are one 2^g x 2^g Kronecker factor
    (all layers' factors built at once), applied with the state viewed as (A, 2^g, R) — the
    group's qubits in the middle — as a batched matmul, so no transpose of the state is needed;
    then the layer's entanglers (a sign multiply for CZ, a signed gather for CNOT). About
    L · (n/g + 1) ops: a 16-qubit circuit of depth 8 compiles in seconds, where a contraction
    path over its ~250 gates needs hundreds of transposes. Costs 2^(n+g) multiply-adds per
    group, layer and row."""
    rots = rotation_gates(spec, angles)  # (depth, n, 2, 2)
    source, sign = entangler_permutations(spec, n)
    batch = x.shape[0]
    groups = [range(g0, min(g0 + group, n)) for g0 in range(0, n, group)]
    krons = [_layer_krons(rots, qs) for qs in groups]  # each (depth, 2^g, 2^g)
    psi = x.astype(jnp.result_type(x.dtype, rots.dtype))
    for layer in range(spec.depth):
        for qs, kron in zip(groups, krons, strict=True):
            psi = _apply_factor(psi, kron[layer], 2 ** qs[0], 2 ** len(qs), batch)
        psi = _signed_permutation(psi, source[layer], sign[layer])
    return psi


def _apply_factor(psi: jax.Array, k: jax.Array, a: int, m: int, batch: int) -> jax.Array:
    """``k`` (m, m) applied to the middle axis of psi viewed as (batch·a, m, r)."""
    rows = batch * a
    r = psi.shape[1] // (a * m)
    if r == 1:  # the group is the trailing axis: psi @ k^T
        out = jax.lax.dot_general(psi.reshape(rows, m), k, (((1,), (1,)), ((), ())))
    elif rows == 1:
        out = k @ psi.reshape(m, r)
    elif r >= m:  # the broadcast factor is no bigger than the state
        out = jnp.matmul(jnp.broadcast_to(k, (rows, m, m)), psi.reshape(rows, m, r))
    else:
        out = jnp.einsum("jk,xkr->xjr", k, psi.reshape(rows, m, r))
    return out.reshape(batch, -1)


def layered_apply_flops(spec: CircuitSpec, n: int, batch: int, group: int = APPLY_GROUP) -> int:
    """Multiply-adds of ``layered_apply`` on ``batch`` rows (the Kronecker factors included)."""
    sizes = [min(group, n - g0) for g0 in range(0, n, group)]
    krons = sum(_kron_flops(spec.depth, m) for m in sizes)
    return krons + spec.depth * batch * sum(2 ** (n + m) for m in sizes)
