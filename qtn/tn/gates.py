"""Gate tensors built from angles with jax.numpy (so gradients flow to the angles).

Single-qubit gates are matrices ``G[out, in]``; two-qubit gates are (2, 2, 2, 2) tensors
``G[out_1, out_2, in_1, in_2]`` (qubit 1 is the more significant bit). Conventions match quimb:
``RY(t) = [[cos t/2, -sin t/2], [sin t/2, cos t/2]]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def ry(theta: jax.Array) -> jax.Array:
    """theta: (...) real -> (..., 2, 2) real."""
    c, s = jnp.cos(theta / 2), jnp.sin(theta / 2)
    return jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)


def rx(theta: jax.Array) -> jax.Array:
    """theta: (...) real -> (..., 2, 2) complex."""
    c = jnp.cos(theta / 2).astype(_complex(theta))
    s = -1j * jnp.sin(theta / 2).astype(_complex(theta))
    return jnp.stack([jnp.stack([c, s], -1), jnp.stack([s, c], -1)], -2)


def rz(theta: jax.Array) -> jax.Array:
    """theta: (...) real -> (..., 2, 2) complex, diag(e^{-it/2}, e^{it/2})."""
    phase = jnp.exp(0.5j * theta.astype(_complex(theta)))
    zero = jnp.zeros_like(phase)
    return jnp.stack([jnp.stack([phase.conj(), zero], -1), jnp.stack([zero, phase], -1)], -2)


def rzyx(angles: jax.Array) -> jax.Array:
    """angles: (..., 3) = (a_x, a_y, a_z) -> RZ(a_z) RY(a_y) RX(a_x): (..., 2, 2) complex."""
    x, y, z = rx(angles[..., 0]), ry(angles[..., 1]), rz(angles[..., 2])
    return z @ (y.astype(x.dtype) @ x)


def _complex(theta: jax.Array):
    # jnp.asarray first: a numpy float64 input is float32 in JAX unless x64 is enabled.
    return jnp.complex128 if jnp.asarray(theta).dtype == jnp.float64 else jnp.complex64


CZ = np.diag([1.0, 1.0, 1.0, -1.0]).reshape(2, 2, 2, 2)
CNOT = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=np.float64).reshape(
    2, 2, 2, 2
)
TWO_QUBIT = {"cz": CZ, "cnot": CNOT}
