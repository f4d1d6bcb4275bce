"""Optax optimizers for adapters: clip_by_global_norm -> AdamW (warmup + cosine), circuit angles
and classical cores partitioned onto their own learning rates, gradient accumulation.

>>> sched = lr_schedule(1e-3, steps=100, warmup_steps=10, min_lr_ratio=0.1)
>>> [round(float(sched(s)), 6) for s in (0, 5, 10, 100)]
[0.0, 0.0005, 0.001, 0.0001]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from qtn.nn.variables import AdapterParam, AngleParam
from qtn.train.config import TrainConfig


class GradNormState(NamedTuple):
    """State of :func:`record_grad_norm`: the global norm of the last gradient it saw."""

    grad_norm: jax.Array


def record_grad_norm() -> optax.GradientTransformation:
    """Identity transform that stores ``optax.global_norm(updates)`` in its state (read it with
    ``optax.tree_utils.tree_get(opt_state, "grad_norm")``). Placed first in the chain, inside
    gradient accumulation, it records the norm of the (averaged) gradient before clipping."""

    def init(params: Any) -> GradNormState:
        del params
        return GradNormState(jnp.zeros((), jnp.float32))

    def update(updates: Any, state: GradNormState, params: Any = None):
        del state, params
        return updates, GradNormState(optax.global_norm(updates).astype(jnp.float32))

    return optax.GradientTransformation(init, update)


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
            lambda kp, _: "angle" if _key_tuple(kp) in angle_paths else "core", params
        )

    return labels


def make_tx(cfg: TrainConfig, model: nnx.Module) -> tuple[optax.GradientTransformation, dict]:
    """The adapter optimizer for ``model`` and its schedules ``{"core": ..., "angle": ...}``.

    Each AdamW runs on the unit-peak schedule and is then scaled by its peak learning rate held
    in the optimizer state (``optax.inject_hyperparams``), not baked into the program as a
    constant: runs that differ only in ``lr`` / ``angle_lr`` (a learning-rate selection, the
    seeds at the chosen rate) compile the same training step and share the persistent compile
    cache. ``peak · unit(t) · (adam + wd · p)`` is AdamW at ``peak · unit(t)``."""
    peaks = {"core": cfg.lr, "angle": cfg.angle_lr if cfg.angle_lr is not None else cfg.lr}
    unit = lr_schedule(
        1.0, steps=cfg.steps, warmup_steps=cfg.warmup_steps, min_lr_ratio=cfg.min_lr_ratio
    )
    schedules = {kind: _scaled(unit, peak) for kind, peak in peaks.items()}

    def adamw(kind: str, wd: float) -> optax.GradientTransformation:
        return optax.chain(
            optax.adamw(unit, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=wd),
            optax.inject_hyperparams(optax.scale)(step_size=peaks[kind]),
        )

    parts = [record_grad_norm()]
    if cfg.clip_norm > 0:
        parts.append(optax.clip_by_global_norm(cfg.clip_norm))
    parts.append(
        optax.multi_transform(
            {
                "core": adamw("core", cfg.weight_decay),
                "angle": adamw("angle", cfg.angle_weight_decay),
            },
            param_labels(model),
        )
    )
    tx = optax.chain(*parts)
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


def _key_tuple(kp: tuple) -> tuple:
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
