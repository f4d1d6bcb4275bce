"""Optax optimizers for adapters: clip_by_global_norm -> AdamW (warmup + cosine) over every
adapter leaf as one vector, circuit angles and classical cores on their own learning rates and
weight decays, gradient accumulation.

>>> sched = lr_schedule(1e-3, steps=100, warmup_steps=10, min_lr_ratio=0.1)
>>> [round(float(sched(s)), 6) for s in (0, 5, 10, 100)]
[0.0, 0.0005, 0.001, 0.0001]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.flatten_util import ravel_pytree

from qtn.nn.variables import AdapterParam, AngleParam
from qtn.train.config import TrainConfig


def lr_schedule(
    peak: float, *, steps: int, warmup_steps: int, min_lr_ratio: float
) -> optax.Schedule:
    """Linear warmup 0 -> ``peak`` over ``warmup_steps``, cosine decay to ``peak·min_lr_ratio``
    at ``steps`` (constant afterwards)."""
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=peak,
        warmup_steps=warmup_steps,
        decay_steps=max(steps, warmup_steps + 1),
        end_value=peak * min_lr_ratio,
    )


def param_labels(model: nnx.Module) -> Callable[[Any], Any]:
    """A ``multi_transform`` label function: ``"angle"`` for :class:`AngleParam` leaves,
    ``"core"`` for every other adapter parameter. Works on both the Variable-wrapped state
    ``nnx.Optimizer`` initialises with and the pure arrays it updates with."""
    angle_paths = {tuple(p) for p, _ in nnx.to_flat_state(nnx.state(model, AngleParam))}

    def labels(params: Any) -> Any:
        return jax.tree_util.tree_map_with_path(
            lambda kp, _: "angle" if key_path(kp) in angle_paths else "core", params
        )

    return labels


class FlatAdamWState(NamedTuple):
    """State of :func:`flat_adamw`: one vector per moment over every adapter leaf.

    ``count``: updates applied; ``mu`` / ``nu``: (P,) Adam moments; ``grad_norm``: the
    global norm of the last gradient, before clipping; ``peaks``: the peak learning rate of
    each parameter group (``{"core": lr, "angle": angle_lr}``), held as state so that runs
    differing only in them compile the same program."""

    count: jax.Array
    mu: jax.Array
    nu: jax.Array
    grad_norm: jax.Array
    peaks: dict[str, jax.Array]


def flat_adamw(
    unit: optax.Schedule,
    *,
    peaks: dict[str, float],
    weight_decay: dict[str, float],
    labels: Callable[[Any], Any],
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    clip_norm: float = 0.0,
) -> optax.GradientTransformation:
    """AdamW over all adapter leaves raveled into one vector, with per-group peaks and decays.

    The same update as ``record_grad_norm -> clip_by_global_norm(clip_norm) ->
    multi_transform({group: adamw(unit, wd=weight_decay[group]) -> scale(peaks[group])},
    labels)`` (up to float summation order in the norm), but a fixed handful of vector ops
    instead of a chain per leaf: an adapter with hundreds of small leaves (the paper's QTHA
    has 11 per adapted module) otherwise spends most of its training step's compile time in
    the optimizer. Per element, with ``c`` the updates applied so far::

        g     = clip(grad)                          (clip_norm > 0)
        mu    = b1 mu + (1 - b1) g;  nu = b2 nu + (1 - b2) g^2
        step  = -peak[group] · unit(c) · (mu_hat / (sqrt(nu_hat) + eps) + wd[group] · p)

    ``labels(params)`` names each leaf's group (a key of ``peaks`` and ``weight_decay``).
    """
    groups = tuple(sorted(peaks))

    def group_masks(params: Any) -> dict[str, np.ndarray]:
        """Per group a (P,) bool mask over the raveled leaves, in numpy at trace time: not a
        fill, reshape and concatenate per leaf, which for a model with hundreds of adapter
        leaves is most of the update's program. The update uses a mask only where groups mix
        (a group holding every leaf becomes a scalar)."""
        names = jax.tree.leaves(labels(params))
        sizes = [int(np.size(x)) for x in jax.tree.leaves(params)]
        return {group: np.repeat(np.asarray([n == group for n in names], bool), sizes)
                for group in groups}

    def init(params: Any) -> FlatAdamWState:
        flat, _ = ravel_pytree(params)
        return FlatAdamWState(
            count=jnp.zeros((), jnp.int32),
            mu=jnp.zeros_like(flat),
            nu=jnp.zeros_like(flat),
            grad_norm=jnp.zeros((), jnp.float32),
            peaks={k: jnp.asarray(v, jnp.float32) for k, v in peaks.items()},
        )

    def update(updates: Any, state: FlatAdamWState, params: Any = None):
        if params is None:
            raise ValueError("flat_adamw needs the params (weight decay)")
        g, unravel = ravel_pytree(updates)
        masks = group_masks(updates)
        norm = jnp.sqrt(jnp.sum(jnp.square(g)))
        if clip_norm > 0:  # as optax.clip_by_global_norm
            g = jnp.where(norm < clip_norm, g, g / norm * clip_norm)
        count = optax.safe_int32_increment(state.count)
        mu = b1 * state.mu + (1 - b1) * g
        nu = b2 * state.nu + (1 - b2) * jnp.square(g)
        mu_hat = mu / (1 - b1 ** count.astype(g.dtype))
        nu_hat = nu / (1 - b2 ** count.astype(g.dtype))
        step = mu_hat / (jnp.sqrt(nu_hat) + eps)
        if any(weight_decay[k] and masks[k].any() for k in groups):  # ravel params only then
            decay = _by_group(masks, {k: weight_decay[k] for k in groups}, g.dtype)
            step = step + decay * ravel_pytree(params)[0]
        peak = _by_group(masks, {k: state.peaks[k] for k in groups}, g.dtype)
        step = -peak * unit(state.count).astype(g.dtype) * step
        new = FlatAdamWState(count, mu, nu, norm.astype(jnp.float32), state.peaks)
        return unravel(step), new

    return optax.GradientTransformation(init, update)


def _by_group(masks: dict[str, np.ndarray], values: dict[str, Any], dtype) -> jax.Array:
    """``values[group]`` spread over the raveled leaves by the groups' (P,) ``masks``: the
    value itself (a scalar) when one group holds every leaf (LoRA, MPO), so that no P-sized
    constant enters the program (at millions of adapter parameters it would weigh megabytes);
    a ``where`` over the masks only where groups mix (QTHA's circuit angles)."""
    out = jnp.zeros((), dtype)
    for group, value in values.items():
        value = jnp.asarray(value, dtype)
        if masks[group].all():
            return value
        if masks[group].any():
            out = jnp.where(masks[group], value, out)
    return out


def make_tx(cfg: TrainConfig, model: nnx.Module) -> tuple[optax.GradientTransformation, dict]:
    """The adapter optimizer for ``model`` (:func:`flat_adamw`) and its schedules
    ``{"core": ..., "angle": ...}``.

    AdamW runs on the unit-peak schedule and each group's update is then scaled by its peak
    learning rate held in the optimizer state, not baked into the program as a constant:
    runs that differ only in ``lr`` / ``angle_lr`` (a learning-rate selection, the seeds at
    the chosen rate) compile the same training step and share the persistent compile cache.
    ``peak · unit(t) · (adam + wd · p)`` is AdamW at ``peak · unit(t)``."""
    peaks = {"core": cfg.lr, "angle": cfg.angle_lr if cfg.angle_lr is not None else cfg.lr}
    unit = lr_schedule(
        1.0, steps=cfg.steps, warmup_steps=cfg.warmup_steps, min_lr_ratio=cfg.min_lr_ratio
    )
    schedules = {kind: _scaled(unit, peak) for kind, peak in peaks.items()}
    tx = flat_adamw(
        unit,
        peaks=peaks,
        weight_decay={"core": cfg.weight_decay, "angle": cfg.angle_weight_decay},
        labels=param_labels(model),
        b1=cfg.b1,
        b2=cfg.b2,
        eps=cfg.eps,
        clip_norm=cfg.clip_norm,
    )
    if cfg.grad_accum > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=cfg.grad_accum)
    return tx, schedules


def _scaled(schedule: optax.Schedule, peak: float) -> optax.Schedule:
    """``peak · schedule(step)`` (for logging the learning rate)."""
    return lambda step: peak * schedule(step)


def make_optimizer(cfg: TrainConfig, model: nnx.Module) -> tuple[nnx.Optimizer, dict]:
    """``nnx.Optimizer`` over the model's ``AdapterParam`` variables only (pretrained weights
    stay frozen), plus the learning-rate schedules (for logging)."""
    if not nnx.state(model, AdapterParam):
        raise ValueError("the model has no adapter parameters to train (inject an adapter)")
    tx, schedules = make_tx(cfg, model)
    return nnx.Optimizer(model, tx, wrt=AdapterParam), schedules


def key_path(kp: tuple) -> tuple:
    """A pytree key path as plain keys (dict keys, sequence indices, attribute names), without
    the trailing ``.value`` of Variable-wrapped leaves."""
    out: list[Any] = []
    for k in kp:
        if isinstance(k, jax.tree_util.DictKey):
            out.append(k.key)
        elif isinstance(k, jax.tree_util.SequenceKey):
            out.append(k.idx)
        elif isinstance(k, jax.tree_util.GetAttrKey):
            if k.name != "value":  # Variable-wrapped leaves carry a trailing ``.value``
                out.append(k.name)
        else:
            out.append(getattr(k, "key", str(k)))
    return tuple(out)
