"""Fit a circuit site's angles to the MPO core it replaces (``reparam`` mode's initialisation).

A circuit core C(theta) = ``circuit_core(skel, {f"angles{k}": theta}, k)``: (a_{k-1}, i_k, j_k, a_k)
cannot match an arbitrary core G in norm (a unitary readout has ||C||_F = sqrt(2^n) whatever
theta), but a scalar passes freely along the MPO's bonds, so only G's *direction* must be fitted:

    min_theta min_s ||G - s C(theta)||_F / ||G||_F,   s*(theta) = <C, G> / <C, C>

(the variable-projection form of the least-squares problem: the scalar is solved in closed form
at every step, and its sign absorbs the sign ambiguity of C). The value is the sine of the angle
between C(theta) and G, in [0, 1], and it depends on the circuit only through ``circuit_core``,
so it applies unchanged to any readout (``unitary``, ``probs``, ``expval``) whose core has the
site's shape. A complex circuit (``ansatz="general"`` with the unitary readout) enters the layer
through the real part of W (:func:`qtn.tn.to_dense`); the classical cores are real, so the
effective core is Re C(theta), and that is what is fitted.

The caller folds ``s`` into any classical core (the nearest, :func:`apply_fit`): with G replaced
by s C(theta) the network equals the MPO up to ``rel_error`` of the replaced core.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qtn.tn.params import circuit_core
from qtn.tn.skeleton import Skeleton


@dataclass(frozen=True)
class FitResult:
    """A circuit fitted to a core G: ``G ≈ scale * C(angles)``.

    - ``angles``: ``skel.param_shapes()[f"angles{site}"]``, the fitted angles.
    - ``scale``: the least-squares scalar ``<C, G> / <C, C>`` (C = Re C(angles)); multiply one
      classical core of the network by it (:func:`apply_fit`) to reproduce the MPO.
    - ``rel_error``: ``||G - scale C(angles)||_F / ||G||_F`` in [0, 1] (float64 evaluation).
    - ``identity_rel_error`` / ``identity_scale``: the same at zero angles (qtn's "identity"
      initialisation), for comparison.
    - ``loss_history``: the scaled relative error at every Adam step of the winning restart
      (before that step's update), ``steps`` entries.
    - ``restart``: index of the winning restart.
    """

    angles: jax.Array
    scale: float
    rel_error: float
    identity_rel_error: float
    identity_scale: float
    loss_history: tuple[float, ...]
    restart: int


def fit_circuit(
    skel: Skeleton,
    site: int,
    target,
    *,
    key: jax.Array,
    steps: int = 300,
    lr: float = 0.1,
    restarts: int = 1,
    init_scale: float = 1.0,
) -> FitResult:
    """Fit the angles of circuit site ``site`` so that ``target ≈ scale * C(angles)``.

    target: ``skel.core_shape(site)`` = (a_{k-1}, i_k, j_k, a_k), real and finite, not zero
    (typically ``mpo.cores[site]``). Minimises the scale-invariant squared error
    ``||G/||G|| - s C(theta)||^2`` with ``s`` in closed form (module docstring) by Adam (``lr``,
    ``steps``) from ``restarts`` random starts ``init_scale * U(-pi, pi)`` drawn from ``key``
    (``init_params``' angle law); the restarts run vmapped in one jitted ``lax.scan``. Each
    restart keeps its best iterate, and the best restart wins.

    Scale convention: ``result.scale`` refers to the *unnormalised* target,
    ``target ≈ result.scale * C(result.angles)`` entrywise (C real: Re of a complex core), so
    for MPO cores G_0..G_{N-1} (G_site = target) and any classical site m != site::

        mpo_to_dense([.., G_m, .., G_site, ..])
            ≈ mpo_to_dense([.., G_m * result.scale, .., C(result.angles), ..])   # (d_in, d_out)

    with the replaced core's relative error ``result.rel_error``; :func:`apply_fit` does this
    on a ``params`` dict. ``scale`` may be negative: a real circuit's global sign is free
    (RY(t + 2 pi) = -RY(t)), and the sign of ``s`` takes whichever one the fit lands on.
    """
    spec = skel.circuit_at(int(site)) if isinstance(site, int | np.integer) else None
    if spec is None:
        circuit_sites = [k for k, _ in skel.circuits]
        raise ValueError(
            f"site {site!r} is not a circuit site of the skeleton; circuit sites: {circuit_sites}"
        )
    site, target_in = int(site), target
    target = jnp.asarray(target)
    shape = skel.core_shape(site)
    if target.shape != shape:
        raise ValueError(
            f"target has shape {target.shape}; site {site}'s core needs "
            f"skel.core_shape({site}) = {shape}"
        )
    if jnp.iscomplexobj(target):
        raise ValueError(
            f"target has complex dtype {target.dtype}; the layer uses the real part of W, so "
            "the core to fit must be real"
        )
    if not jnp.issubdtype(target.dtype, jnp.floating):
        target = target.astype(jnp.result_type(float))
    if not bool(jnp.all(jnp.isfinite(target))):
        raise ValueError(f"target has {int(jnp.sum(~jnp.isfinite(target)))} non-finite entries")
    target64 = np.asarray(target_in, np.float64)
    norm = float(np.linalg.norm(target64))
    if norm == 0.0:
        raise ValueError("target is all zeros: there is no direction to fit a circuit to")
    for name, value in (("steps", steps), ("restarts", restarts)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    steps, restarts = int(steps), int(restarts)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (math.isfinite(init_scale) and init_scale >= 0):
        raise ValueError(f"init_scale must be a finite number >= 0, got {init_scale!r}")

    angle_shape = skel.param_shapes()[skel.param_name(site)]
    starts = init_scale * jax.random.uniform(
        key, (restarts, *angle_shape), target.dtype, -np.pi, np.pi
    )
    best, losses, history = _fit_restarts(
        skel, site, steps, target / jnp.asarray(norm, target.dtype), starts, lr
    )
    winner = int(jnp.argmin(losses))
    angles = best[winner]
    rel_error, scale = scaled_core_error(skel, site, angles, target64)
    identity_error, identity_scale = scaled_core_error(
        skel, site, jnp.zeros(angle_shape, target.dtype), target64
    )
    return FitResult(
        angles=angles,
        scale=scale,
        rel_error=rel_error,
        identity_rel_error=identity_error,
        identity_scale=identity_scale,
        loss_history=tuple(float(v) for v in np.sqrt(np.maximum(history[winner], 0.0))),
        restart=winner,
    )


def scaled_core_error(skel: Skeleton, site: int, angles, target) -> tuple[float, float]:
    """``(||G - s C||_F / ||G||_F, s)`` with ``s = <C, G> / <C, C>``, C = Re C(angles),
    G = target: ``skel.core_shape(site)``; evaluated in float64 (numpy)."""
    c = np.asarray(_effective_core(skel, site, jnp.asarray(angles)), np.float64)
    g = np.asarray(target, np.float64)
    cc = float(np.vdot(c, c))
    s = float(np.vdot(c, g)) / cc if cc > 0 else 0.0
    return float(np.linalg.norm(g - s * c) / np.linalg.norm(g)), s


def apply_fit(
    skel: Skeleton,
    params: Mapping[str, jax.Array],
    site: int,
    fit: FitResult,
    *,
    into: int | None = None,
) -> dict[str, jax.Array]:
    """``params`` with ``angles{site}`` set to ``fit.angles`` and ``fit.scale`` folded into the
    classical core ``core{into}`` (default: the nearest classical site, right neighbour first).
    If ``params`` held the MPO's cores, the hybrid then reproduces the MPO up to
    ``fit.rel_error`` of the replaced core."""
    if into is None:
        order = sorted(range(skel.n_sites), key=lambda m: (abs(m - site), m < site))
        into = next((m for m in order if skel.circuit_at(m) is None), None)
        if into is None:
            raise ValueError(
                "every site is a circuit: there is no classical core to take the scale"
            )
    elif not 0 <= into < skel.n_sites or skel.circuit_at(into) is not None:
        raise ValueError(f"into={into} is not a classical site of the {skel.n_sites}-site skeleton")
    name = skel.param_name(site)
    out = dict(params)
    out[name] = jnp.asarray(fit.angles, jnp.asarray(params[name]).dtype)
    core = jnp.asarray(params[f"core{into}"])
    out[f"core{into}"] = core * jnp.asarray(fit.scale, core.dtype)
    return out


def _effective_core(skel: Skeleton, site: int, angles: jax.Array) -> jax.Array:
    """C(angles) as the layer sees it: the real part of a complex core (as ``to_dense``)."""
    core = circuit_core(skel, {skel.param_name(site): angles}, site)
    return jnp.real(core) if jnp.iscomplexobj(core) else core


def _scaled_loss(skel: Skeleton, site: int, g: jax.Array, angles: jax.Array) -> jax.Array:
    """||g - s C||^2 with s = <C, g> / <C, C>; g has unit norm, so this is rel_error^2. The
    residual is formed explicitly (1 - cos^2 would lose the small errors to cancellation)."""
    c = _effective_core(skel, site, angles).astype(g.dtype)
    # guarded: Re C can vanish (a complex circuit at a global phase of i); then s = 0
    s = jnp.vdot(c, g) / jnp.maximum(jnp.vdot(c, c), jnp.finfo(g.dtype).tiny)
    r = g - s * c
    return jnp.vdot(r, r)


@partial(jax.jit, static_argnames=("skel", "site", "steps"))
def _fit_restarts(
    skel: Skeleton, site: int, steps: int, g: jax.Array, starts: jax.Array, lr
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Adam from every start (vmapped): (best angles per restart, their losses, per-step
    losses (restarts, steps))."""
    opt = optax.adam(lr)
    loss = partial(_scaled_loss, skel, site, g)
    loss_and_grad = jax.value_and_grad(loss)

    def run(a0):
        def step(carry, _):
            a, state, best_a, best_l = carry
            value, grad = loss_and_grad(a)
            better = value < best_l
            best_a = jnp.where(better, a, best_a)
            best_l = jnp.where(better, value, best_l)
            updates, state = opt.update(grad, state, a)
            return (optax.apply_updates(a, updates), state, best_a, best_l), value

        init = (a0, opt.init(a0), a0, jnp.asarray(jnp.inf, g.dtype))
        (a, _, best_a, best_l), history = jax.lax.scan(step, init, None, length=steps)
        last = loss(a)  # the iterate after the final update has not been scored yet
        return jnp.where(last < best_l, a, best_a), jnp.minimum(last, best_l), history

    return jax.vmap(run)(starts)
