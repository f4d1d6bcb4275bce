"""Array math of the batched state-vector simulator: a state, the factors a fused gate block
multiplies it by, and their adjoints (the reverse pass of :mod:`qtn.quantum.statevector`).

A state is one real array ``x: (B, a, P, c)``: B rows (tokens, circuits), amplitude
``k = (i, j)`` split between the first h qubits (``i < a = 2^h``) and the others
(``j < c = 2^(n-h)``), and P = 1 (a real state) or 2 (real and imaginary parts). The parts
sit between the halves so that both halves' products are matmuls over the array as it lies:
a left factor is a batched matmul of (a, a) with (a, P·c), a right factor one GEMM of
(B·a·P, c) with (c, c). (With the parts leading, XLA:CPU transposed the state around every
left product.)

A *factor* is a tuple of real arrays: ``(k,)`` for a real matrix or ``(re, im)`` for a
complex one, each (R, d, d) with R = 1 (shared by every row) or B (one per row). A *phase* is
``(s,)`` (real signs) or ``(cos, sin)``, each (R, a, c): the diagonal ``s`` or
``cos + i sin``. Keeping complex numbers as real pairs lets the reverse pass hand plain real
cotangents to ``jax.vjp`` of the functions that build the factors from angles.

Gradients follow from ``dL = Re sum conj(lam) dy`` for a complex state y with cotangent
``lam`` (real and imaginary parts of ``dL/dy`` as JAX gives them for real arrays): for
``y = K x``, ``lam_x = K^dagger lam`` and ``dL/dK[i, j] = sum conj(lam[i]) x[j]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Factor = tuple[jax.Array, ...]


def is_complex(x: jax.Array) -> bool:
    """Whether the state ``x: (B, a, P, c)`` has an imaginary part."""
    return x.shape[2] == 2


def from_parts(re: jax.Array, im: jax.Array | None) -> jax.Array:
    """A state from parts of shape (B, a, c) (``im`` None: a real state)."""
    return jnp.stack([re, im], axis=2) if im is not None else re[:, :, None]


def real_part(x: jax.Array) -> jax.Array:
    """The real state ``Re x``: (B, a, 1, c)."""
    return x[:, :, :1]


def conj_flip(x: jax.Array) -> jax.Array:
    """``-i x`` of a complex state as parts, i.e. ``(im, -re)``: with it,
    ``sum conj(lam) x`` has imaginary part ``sum lam . conj_flip(x)``."""
    return jnp.stack([x[:, :, 1], -x[:, :, 0]], axis=2)


def _real_matmul(x: jax.Array, k: jax.Array, right: bool) -> jax.Array:
    """x: (B, a, P, c); k: (R, d, d) real, R in {1, B} -> k acting on axis 1 (left) or 3
    (right, as ``x @ k^T``). A shared k on the right is one GEMM over all rows; on the left it
    is broadcast to a batched matmul over (a, P·c) (measured faster on XLA:CPU than
    transposing the state)."""
    b, a, p, c = x.shape
    if right:
        if k.shape[0] == 1:
            return (x.reshape(b * a * p, c) @ k[0].T).reshape(x.shape)
        return jnp.matmul(x.reshape(b, a * p, c), jnp.swapaxes(k, 1, 2)).reshape(x.shape)
    if k.shape[0] == 1:
        k = jnp.broadcast_to(k, (b, a, a))
    return jnp.matmul(k, x.reshape(b, a, p * c)).reshape(x.shape)


def apply_factor(x: jax.Array, k: Factor, right: bool) -> jax.Array:
    """``x`` multiplied by the factor ``k`` on its left (axis 1) or right (axis 3) half."""
    if len(k) == 1:
        return _real_matmul(x, k[0], right)
    ar = _real_matmul(x, k[0], right)
    ai = _real_matmul(x, k[1], right)
    if not is_complex(x):
        return jnp.concatenate([ar, ai], axis=2)
    return from_parts(ar[:, :, 0] - ai[:, :, 1], ar[:, :, 1] + ai[:, :, 0])


def dagger(k: Factor) -> Factor:
    """The conjugate transpose of a factor."""
    if len(k) == 1:
        return (jnp.swapaxes(k[0], 1, 2),)
    return (jnp.swapaxes(k[0], 1, 2), -jnp.swapaxes(k[1], 1, 2))


def apply_phase(x: jax.Array, u: Factor) -> jax.Array:
    """``x`` times the diagonal phase ``u`` ((s,) or (cos, sin), each (R, a, c))."""
    if len(u) == 1:
        return x * u[0][:, :, None]
    cos, sin = u
    re = x[:, :, 0]
    if not is_complex(x):
        return from_parts(re * cos, re * sin)
    im = x[:, :, 1]
    return from_parts(re * cos - im * sin, re * sin + im * cos)


def phase_conj(u: Factor) -> Factor:
    """The complex conjugate of a phase."""
    return u if len(u) == 1 else (u[0], -u[1])


def _reduce_rows(g: jax.Array, rows: int) -> jax.Array:
    """Sum a per-row cotangent (B, ...) to (rows, ...) (rows = 1 for shared factors)."""
    return g if g.shape[0] == rows else jnp.sum(g, axis=0, keepdims=True)


def factor_cotangent(lam: jax.Array, z: jax.Array, k: Factor, right: bool) -> Factor:
    """The cotangent of ``k`` in ``y = k z`` (left) or ``y = z k^T`` (right), from ``lam``
    (the cotangent of y) and ``z``, both (B, a, P, c) with the same P. ``G = sum conj(lam) z``
    over every axis but k's two (and the rows, where k is shared); ``(Re G,)`` for a real k,
    ``(Re G, -Im G)`` for a complex one."""
    rows = k[0].shape[0]
    if right:  # G[c, j] = sum_{b, i} conj(lam[b, i, c]) z[b, i, j]
        spec = "bipc,bipj->cj" if rows == 1 else "bipc,bipj->bcj"
    else:  # G[i, j] = sum_{b, c} conj(lam[b, i, c]) z[b, j, c]
        spec = "bipc,bjpc->ij" if rows == 1 else "bipc,bjpc->bij"

    def contract(u, v):
        g = jnp.einsum(spec, u, v)
        return g[None] if rows == 1 else g

    re = contract(lam, z)
    if len(k) == 1:
        return (re,)
    if not is_complex(z):
        raise ValueError("a complex factor's input is complex in the reverse pass")
    return (re, -contract(lam, conj_flip(z)))


def phase_cotangent(lam: jax.Array, x: jax.Array, u: Factor) -> Factor:
    """The cotangent of the phase ``u`` ((cos, sin)) in ``y = u x``: ``cos`` gets
    ``Re(conj(lam) x)``, ``sin`` gets ``Re(conj(lam) i x)``; summed over rows where shared."""
    rows = u[0].shape[0]
    lr, li = lam[:, :, 0], lam[:, :, 1]
    if is_complex(x):
        xr, xi = x[:, :, 0], x[:, :, 1]
        g_cos, g_sin = lr * xr + li * xi, li * xr - lr * xi
    else:
        xr = x[:, :, 0]
        g_cos, g_sin = lr * xr, li * xr
    return (_reduce_rows(g_cos, rows), _reduce_rows(g_sin, rows))
