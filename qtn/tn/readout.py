"""Measured readouts: a circuit's output state -> the entries of the core it replaces.

The circuit acts on |0...0> (n qubits, qubit 0 most significant); ``amps``: (2,)*n or (2^n,)
are its output amplitudes psi_k = <k|U(theta)|0>, p_k = |psi_k|^2 the probabilities a QPU
estimates with shots. The maps are fixed (no parameters of their own: the neighbouring
classical cores absorb any scale), chosen so that a random circuit gives entries of mean ~0
and standard deviation ~``scale``:

- ``"probs"``: ``G_k = scale * (2^n p_k - 1)``. For a deep random circuit 2^n p_k follows the
  Porter-Thomas law (mean 1, variance 1 complex / 2 real), so the core is centred.
- ``"expval"``: ``G_s = scale * 2^{n/2} <Z^s>`` with ``<Z^s> = sum_k (-1)^{popcount(s & k)} p_k``
  for every Z-string s in {0,1}^n (a Walsh-Hadamard transform of p; the single-qubit <Z_i> are
  the weight-one entries, <Z^0> = 1 always).

Both are differentiable in theta through |psi|^2 (what parameter-shift rules estimate on
hardware). The result is real and flat: (2^n,), row-major over the core's legs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MEASURED_READOUTS = ("probs", "expval")


def probabilities(amps: jax.Array) -> jax.Array:
    """|psi_k|^2 flattened: (2^n,), real."""
    amps = amps.reshape(-1)
    if jnp.iscomplexobj(amps):
        return jnp.real(amps) ** 2 + jnp.imag(amps) ** 2
    return amps**2


def z_string_expectations(probs: jax.Array) -> jax.Array:
    """<Z^s> for all s: (2^n,) from p: (2^n,), by n butterflies (fast Walsh-Hadamard)."""
    n = probs.shape[0].bit_length() - 1
    h = jnp.array([[1.0, 1.0], [1.0, -1.0]], probs.dtype)
    z = probs.reshape((2,) * n)
    for q in range(n):
        z = jnp.moveaxis(jnp.tensordot(h, z, axes=((1,), (q,))), 0, q)
    return z.reshape(-1)


def readout_map(readout: str, amps: jax.Array, scale: float) -> jax.Array:
    """The core entries of a measured readout: (2^n,), real (see the module docstring)."""
    return readout_from_probs(readout, probabilities(amps), scale)


def readout_from_probs(readout: str, p: jax.Array, scale: float) -> jax.Array:
    """The same map from (estimated) probabilities ``p: (2^n,)`` (e.g. a QPU's frequencies)."""
    if readout not in MEASURED_READOUTS:
        raise ValueError(f"readout {readout!r} is not measured; choose from {MEASURED_READOUTS}")
    dim = p.shape[0]
    if readout == "probs":
        return scale * (dim * p - 1.0)
    return (scale * dim**0.5) * z_string_expectations(p)
