"""The paper's per-token QNN (:func:`qtn.quantum.circuit.qnn_circuit`) read out as <Z_i>,
by the C++ XLA:CPU kernels of ``qnn_kernel.cc``: one custom call forward, one backward
(the adjoint method, forward recomputed per block of tokens), instead of the fused-block
simulator's few dozen XLA ops.

``qnn_z(layers, h, w)``: ``h: (B, n)`` encoding angles, ``w: (layers * 4 * n,)`` weights ->
``(B, n)``; float32 on the CPU backend; differentiable in both (``jax.custom_vjp``). The
exact executor uses it where it applies (:func:`eligible`); everything else, and any machine
where the kernel cannot be built, takes the pure-JAX simulator (same numbers, tested).
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from qtn.quantum.circuit import Circuit, qnn_circuit
from qtn.quantum.native.build import KernelUnavailable, load

TARGETS = {"qtn_qnn_z": "QtnQnnZ", "qtn_qnn_z_vjp": "QtnQnnZVjp"}
MAX_QUBITS = 14  # the kernel's limit (a block of 16 tokens holds 2 x 2^n x 16 floats)


@functools.lru_cache(maxsize=1)
def _register() -> str | None:
    """Register the kernels with XLA once per process; the reason they are unavailable, or
    None when they are registered."""
    try:
        lib = load("qnn_kernel")
    except KernelUnavailable as err:
        return str(err)
    for target, symbol in TARGETS.items():
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)),
                                    platform="cpu")
    return None


def unavailable_reason() -> str | None:
    """None when the kernels are registered (built on first call), else why not."""
    return _register()


@functools.lru_cache(maxsize=256)
def qnn_layers(circuit: Circuit) -> int | None:
    """The layer count if ``circuit`` is exactly ``qnn_circuit(n, layers)``, else None."""
    n = circuit.n_qubits
    if n < 2 or n > MAX_QUBITS or circuit.n_inputs != n or circuit.n_weights % (4 * n):
        return None
    layers = circuit.n_weights // (4 * n)
    if layers < 1 or circuit.gates != qnn_circuit(n, layers).gates:
        return None
    return layers


def eligible(circuit: Circuit, weights: jax.Array, inputs: jax.Array | None) -> int | None:
    """The QNN's layer count when the kernels can evaluate this call (a ``qnn_circuit``,
    float32 weights (n_weights,) and inputs (B, n), the CPU backend, the kernels built), else
    None (the JAX path then evaluates it, or reports a bad shape). A
    failed build warns once and leaves the pure-JAX path in use."""
    if inputs is None or inputs.shape[1:] != (circuit.n_qubits,):
        return None
    if weights.shape != (circuit.n_weights,):
        return None
    layers = qnn_layers(circuit)
    if layers is None or jax.default_backend() != "cpu":
        return None
    if weights.dtype != jnp.float32 or inputs.dtype != jnp.float32:
        return None
    reason = _register()
    if reason is not None:
        warnings.warn(f"qtn's native QNN kernel is unavailable, using the JAX simulator: "
                      f"{reason}", RuntimeWarning, stacklevel=3)
        return None
    return layers


def _call(target: str, shapes, *args, layers: int):
    return jax.ffi.ffi_call(target, shapes, vmap_method="sequential")(
        *args, layers=np.int64(layers))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def qnn_z(layers: int, h: jax.Array, w: jax.Array) -> jax.Array:
    """<Z_i> of every row's QNN: ``h: (B, n)``, ``w: (layers * 4 * n,)`` -> (B, n)."""
    return _call("qtn_qnn_z", jax.ShapeDtypeStruct(h.shape, h.dtype), h, w, layers=layers)


def _qnn_z_fwd(layers, h, w):
    return qnn_z(layers, h, w), (h, w)


def _qnn_z_bwd(layers, res, g):
    h, w = res
    shapes = (jax.ShapeDtypeStruct(h.shape, h.dtype), jax.ShapeDtypeStruct(w.shape, w.dtype))
    dh, dw = _call("qtn_qnn_z_vjp", shapes, h, w, g.astype(h.dtype), layers=layers)
    return dh, dw


qnn_z.defvjp(_qnn_z_fwd, _qnn_z_bwd)
