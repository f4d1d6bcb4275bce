"""Small circuits as dense unitaries, built with a handful of batched ops.

For a few qubits every gate tensor is tiny and a pairwise contraction per gate costs more in
dispatch than in arithmetic. Here each layer is built at once (Kronecker product of its
rotations, times the constant entangler matrix of that layer) and the L layer matrices are
multiplied in a log-depth batched product: ~n + log2(L) ops instead of ~n·L contractions.
Costs 2·L·8^n multiply-adds, so it is only used for small n (``LAYERED_MAX_QUBITS``).
``layered_state`` does the same for U|0> (measured readouts), a state instead of a matrix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qtn.tn.ansatz import CircuitSpec, rotation_gates

LAYERED_MAX_QUBITS = 6


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
    """``sign * psi[source]`` for a constant permutation ``source``: a multiply when it is the
    identity (CZ layers), else a gather whose gradient is the inverse gather (not the
    scatter-add XLA would otherwise emit for it)."""
    signs = jnp.asarray(sign, psi.dtype)
    if np.array_equal(source, np.arange(source.size)):
        return signs * psi
    inverse = np.argsort(source)

    @jax.custom_vjp
    def permute(v):
        return signs * v[source]

    def forward(v):
        return permute(v), None

    def backward(_, g):
        return ((signs * g)[inverse],)

    permute.defvjp(forward, backward)
    return permute(psi)


def layered_state_flops(spec: CircuitSpec, n: int) -> int:
    """Multiply-adds of ``layered_state``: the two half-Kronecker products and per layer two
    matmuls and the signed gather."""
    h = n // 2
    kron = _kron_flops(spec.depth, h) + _kron_flops(spec.depth, n - h)
    return kron + spec.depth * (2 ** (n + h) + 2 ** (2 * n - h) + 2**n)
