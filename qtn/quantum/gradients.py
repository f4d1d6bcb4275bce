"""Gradients the way hardware gets them, and :func:`estimate`, the call every layer makes.

``estimate(executor, circuit, weights, inputs, measure=..., gradient=..., key=...)`` returns
the executor's estimate of ``measure`` (``probs``: (B, 2^n); ``z``: <Z_q>, (B, n)) and is
differentiable in ``weights`` and ``inputs`` according to ``gradient``:

- ``autodiff``: JAX autodiff through the exact simulation (``exact`` executor only; the
  paper's QNN read out as ``z`` runs the executor's C++ kernel and its adjoint backward);
- ``parameter_shift``: the exact shift rule of every parameterized gate slot (two-term for
  RX/RY/RZ, four-term for CRZ: ``qtn.quantum.circuit.GATES``); all shifted circuits of a
  call are evaluated by the same executor in one batch (in chunks of ``chunk_rows``), when the
  forward runs under differentiation, and the Jacobian is kept for the backward pass;
- ``spsa``: simultaneous perturbation, two evaluations per circuit whatever the number of
  angles: ``J ~ (f(a + c D) - f(a - c D)) / (2c) D^T`` with Rademacher ``D``;
- ``simulator``: forward from the executor, backward from the exact simulation at the same
  angles (the pattern Origin's VQNet offers).

The rules act on slot angles (``Circuit.slot_angles``); the map from weights and inputs to
slots is an ordinary gather, so autodiff carries slot gradients back to both (an input
re-uploaded in several layers sums its slots' gradients). ``jax.custom_vjp`` connects a rule
to the rest of the network. Every shifted circuit gets its own sampling key.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from qtn.quantum.circuit import GATES, Circuit
from qtn.quantum.executors import MEASURES, ExactExecutor, exact_probabilities
from qtn.quantum.statevector import z_expectations

GRADIENTS = ("autodiff", "parameter_shift", "spsa", "simulator")
DEFAULT_CHUNK_ROWS = 1 << 22  # amplitudes evaluated at once by a chunk of shifted circuits


def measure_map(probs: jax.Array, measure: str) -> jax.Array:
    """``probs``: (B, 2^n) -> the measured quantity ((B, 2^n) or <Z_q>: (B, n))."""
    if measure == "probs":
        return probs
    if measure == "z":
        return z_expectations(probs)
    raise ValueError(f"unknown measure {measure!r}; choose from {MEASURES}")


def default_gradient(executor) -> str:
    """``autodiff`` for exact executors, ``parameter_shift`` otherwise."""
    return "autodiff" if executor.exact else "parameter_shift"


def estimate(
    executor,
    circuit: Circuit,
    weights: jax.Array,
    inputs: jax.Array | None = None,
    *,
    measure: str = "z",
    gradient: str | None = None,
    key: jax.Array | None = None,
    spsa_epsilon: float = 0.1,
) -> jax.Array:
    """The executor's estimate of ``measure`` for ``circuit`` at ``weights: (n_weights,)``
    and ``inputs: (B, n_inputs)`` (None for B = 1); see the module docstring. ``key`` is
    required by sampling executors and by ``spsa``."""
    gradient = gradient or default_gradient(executor)
    if gradient not in GRADIENTS:
        raise ValueError(f"unknown gradient rule {gradient!r}; choose from {GRADIENTS}")
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose from {MEASURES}")
    if gradient == "autodiff" and not executor.exact:
        raise ValueError(
            f"gradient 'autodiff' needs the exact executor (autodiff through sampling is not "
            f"available on hardware); the {executor.name} executor takes one of "
            f"{[g for g in GRADIENTS if g != 'autodiff']}"
        )
    if key is None:
        if not executor.exact or gradient == "spsa":
            raise ValueError(f"the {executor.name} executor with gradient {gradient!r} needs a "
                             "PRNG key (key=...)")
        key = jax.random.key(0)
    if gradient == "autodiff" and measure == "z" and isinstance(executor, ExactExecutor):
        direct = executor.native_z(circuit, weights, inputs)
        if direct is not None:
            return direct
    angles = circuit.slot_angles(weights, inputs)
    fn = _rule_fn(executor, circuit, measure, gradient, float(spsa_epsilon))
    return fn(angles, key)


@functools.lru_cache(maxsize=512)
def _rule_fn(executor, circuit: Circuit, measure: str, gradient: str, epsilon: float):
    # the primal rows come from slot_angles(weights, inputs): weight-only slots are shared
    def f(a, k, shared_rows=True):
        return measure_map(executor.probabilities(circuit, a, k, shared_rows), measure)

    if gradient == "autodiff":
        return f

    def exact_f(a):
        return measure_map(exact_probabilities(circuit, a, shared_rows=True), measure)

    @jax.custom_vjp
    def g(a, k):
        return f(a, k)

    def fwd(a, k):
        k_primal, k_grad = jax.random.split(k)
        y = f(a, k_primal)
        if gradient == "parameter_shift":
            res = shift_jacobian(executor, circuit, measure, a, k_grad)
        elif gradient == "spsa":
            res = _spsa_pieces(f, a, k_grad, epsilon)
        else:
            res = a
        return y, res

    def bwd(res, ct):
        if gradient == "parameter_shift":
            ga = jnp.einsum("bgm,bm->bg", res, ct.astype(res.dtype))
        elif gradient == "spsa":
            diff, delta = res
            ga = jnp.sum(diff * ct.astype(diff.dtype), axis=-1, keepdims=True) * delta
        else:
            _, vjp = jax.vjp(exact_f, res)
            (ga,) = vjp(ct)
        return ga, None

    g.defvjp(fwd, bwd)
    return g


@functools.lru_cache(maxsize=256)
def shift_table(circuit: Circuit) -> tuple[np.ndarray, np.ndarray]:
    """The parameter-shift evaluations of ``circuit``: ``shifts: (S, n_slots)`` (one shifted
    slot per row) and ``coefficients: (n_slots, S)`` with d f / d a_g = sum_s C[g, s]
    f(a + shifts[s]). S = sum over slots of their rule's term count."""
    gates = [circuit.gates[i] for i in circuit.slots]
    rows, coef = [], []
    for g_idx, gate in enumerate(gates):
        for shift, c in GATES[gate.name].shift_rule:
            row = np.zeros(len(gates))
            row[g_idx] = shift
            rows.append(row)
            coef.append((g_idx, c))
    shifts = np.stack(rows) if rows else np.zeros((0, len(gates)))
    coefficients = np.zeros((len(gates), len(rows)))
    for s, (g_idx, c) in enumerate(coef):
        coefficients[g_idx, s] = c
    return shifts, coefficients


def shifted_circuits(circuit: Circuit) -> int:
    """Circuits the parameter-shift rule evaluates per circuit (S of :func:`shift_table`)."""
    return sum(len(GATES[circuit.gates[i].name].shift_rule) for i in circuit.slots)


def shift_jacobian(
    executor, circuit: Circuit, measure: str, angles: jax.Array, key: jax.Array,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> jax.Array:
    """d measure / d slot angles by the parameter-shift rule, every shifted circuit run by
    ``executor``: angles (B, G) -> (B, G, m)."""
    shifts, coefficients = shift_table(circuit)
    batch, n_shift = angles.shape[0], shifts.shape[0]
    per_chunk = max(1, min(n_shift, chunk_rows // max(1, batch * circuit.dim)))
    n_chunks = math.ceil(n_shift / per_chunk)
    padded = np.zeros((n_chunks * per_chunk, shifts.shape[1]))
    padded[:n_shift] = shifts
    chunks = jnp.asarray(padded.reshape(n_chunks, per_chunk, -1), angles.dtype)

    def evaluate(args):
        i, chunk = args
        shifted = (angles[:, None, :] + chunk[None]).reshape(batch * per_chunk, -1)
        out = measure_map(
            executor.probabilities(circuit, shifted, jax.random.fold_in(key, i)), measure
        )
        return out.reshape(batch, per_chunk, -1)

    if n_chunks == 1:
        values = evaluate((0, chunks[0]))[:, :n_shift]
    else:
        stacked = jax.lax.map(evaluate, (jnp.arange(n_chunks), chunks))  # (C, B, P, m)
        values = jnp.moveaxis(stacked, 0, 1).reshape(batch, n_chunks * per_chunk, -1)
        values = values[:, :n_shift]
    return jnp.einsum("gs,bsm->bgm", jnp.asarray(coefficients, values.dtype), values)


def _spsa_pieces(f, angles: jax.Array, key: jax.Array, epsilon: float):
    k_delta, k_plus, k_minus = jax.random.split(key, 3)
    delta = jax.random.rademacher(k_delta, angles.shape, angles.dtype)
    plus = f(angles + epsilon * delta, k_plus, False)
    diff = (plus - f(angles - epsilon * delta, k_minus, False)) / (2 * epsilon)
    return diff, delta
