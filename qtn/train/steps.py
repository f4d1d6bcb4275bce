"""The jitted train and eval steps.

The model and optimizer are split once into *frozen* state (pretrained ``nnx.Param``s, passed to
the compiled function as arguments and never copied or returned) and *mutable* state (adapter
parameters, optimizer state, RNG counters) that the step returns updated. Each step function is
compiled once per batch shape; ``traces`` counts how often its Python body was traced.

Batch convention (see ``qtn.data.batching``): ``input_ids``, ``attention_mask``, ``targets``,
``loss_mask``: (B, T) int32; targets are already shifted (``targets[:, t]`` is the token
predicted at position ``t``), so the loss is ``sum(nll · loss_mask) / sum(loss_mask)``. With
``select`` (default for models with ``hidden_states``/``logits``) the logits are computed only
at the loss positions (:mod:`qtn.train.loss`); the shape key then includes their bucket K.
``loss_chunk`` > 0 computes the output head and cross-entropy that many rows at a time.

With a ``mesh`` (:func:`qtn.nn.sharding.make_mesh`), the frozen weights are placed by their
logical axes (split along ``fsdp``), adapter / optimizer / RNG state is replicated, batches
are split along the batch axes, and the step is jitted with these in / out shardings: state
stays on the devices between steps; only the batch goes in and three scalars come out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from qtn.nn.sharding import batch_sharding, put_global, replicated, shard_state
from qtn.nn.variables import AdapterParam
from qtn.train.loss import (
    SELECT_KEYS,
    Batch,
    Forward,
    default_forward,
    mean_loss,
    row_losses,
    select_loss_positions,
    supports_selection,
)
from qtn.train.optim import FlatAdamWState
from qtn.train.stacked import plan_layer_stack

FROZEN = nnx.All(nnx.Param, nnx.Not(AdapterParam))
MODEL_KEYS = ("input_ids", "attention_mask")
PACKED_KEYS = ("input_ids", "attention_mask", "positions", "segment_ids")
LOSS_KEYS = ("targets", "loss_mask")


class _Inputs:
    """Which batch arrays a step reads; adds the loss-position gather plan when selecting.
    ``pin(batches)`` fixes the gather size K to the largest these batches need, so every batch
    of a run shares one compiled program per (B, T)."""

    def __init__(
        self, model: nnx.Module, forward: Forward, batch_keys: tuple[str, ...], select: bool | None
    ):
        if select is None:
            select = forward is default_forward and supports_selection(model)
        self.select = select
        extra = SELECT_KEYS if select else LOSS_KEYS
        self.keys = tuple(dict.fromkeys(batch_keys + extra))
        self.min_selected = 0

    def pin(self, batches: Iterable[Batch]) -> int:
        """Use at least the K of every batch in ``batches`` from now on; returns K (0 when not
        selecting)."""
        if self.select:
            for batch in batches:
                k = len(select_loss_positions(batch, self.min_selected)["loss_index"])
                self.min_selected = max(self.min_selected, k)
        return self.min_selected

    def host(self, batch: Batch) -> dict[str, np.ndarray]:
        if self.select:
            batch = {**batch, **select_loss_positions(batch, self.min_selected)}
        return {k: np.asarray(batch[k], dtype=np.int32) for k in self.keys}


def device_batch(host: Mapping[str, np.ndarray], mesh: Any = None) -> dict[str, jax.Array]:
    """Host batch -> device arrays: (B, ...) arrays split along the mesh's batch axes, the
    gather plan (K,) replicated; without a mesh, the default device."""
    if mesh is None:
        return {k: jnp.asarray(v) for k, v in host.items()}
    B = host["input_ids"].shape[0]
    split, rep = batch_sharding(mesh, B), replicated(mesh)
    return {k: put_global(v, rep if k in SELECT_KEYS else split) for k, v in host.items()}


class TrainStep:
    """One optimizer micro-step: forward, loss, grads w.r.t. ``AdapterParam`` only, optax update.

    ``step(batch) -> {"loss", "tokens", "grad_norm"}`` (device scalars; ``grad_norm`` is the
    pre-clipping norm of the last applied (accumulated) gradient). The model and optimizer
    objects are kept current after every call.

    Each batch shape is traced and compiled once, ahead of time; ``flops[shape]`` is XLA's
    FLOP count of that compiled step (forward + backward + update), ``step_flops(batch)``
    looks it up.

    With ``scan_layers`` on a single device and the one-vector AdamW, the layers' adapter
    arrays are differentiated as one stack per kind (``stack``: a
    :class:`qtn.train.stacked.LayerStack`; ``stack_layers=False`` turns it off): the same
    update with a fraction of the kernels to compile (``benchmarks/bench_step_compile.py``).
    """

    def __init__(
        self,
        model: nnx.Module,
        optimizer: nnx.Optimizer,
        *,
        forward: Forward = default_forward,
        batch_keys: tuple[str, ...] = MODEL_KEYS,
        select: bool | None = None,
        loss_chunk: int = 0,
        mesh: Any = None,
        stack_layers: bool = True,
    ):
        self.model, self.optimizer, self.forward = model, optimizer, forward
        self.inputs = _Inputs(model, forward, batch_keys, select)
        self.loss_chunk, self.mesh = loss_chunk, mesh
        self.traces = 0
        self._executables: dict[tuple, Any] = {}
        self.flops: dict[tuple, float] = {}
        self.resync()
        # a scanned model's adapter arrays are differentiated as one stack per kind
        # (qtn.train.stacked): same update, far fewer kernels to compile, where the optimizer
        # ravels the arrays into one vector (flat_adamw; not optax.MultiSteps' per-array state)
        ravels = isinstance(nnx.as_pure(optimizer.opt_state), FlatAdamWState)
        self.stack = (
            plan_layer_stack(model, self.mutable)
            if stack_layers and mesh is None and ravels
            else None
        )
        if mesh is None:
            self._jitted = jax.jit(self._step)
        else:
            self._jitted = jax.jit(
                self._step,
                in_shardings=(_shardings(self.frozen), _shardings(self.mutable), None),
                out_shardings=(_shardings(self.mutable), replicated(mesh)),
            )

    def _step(self, frozen: Any, mutable: Any, batch: Batch) -> tuple[Any, dict[str, jax.Array]]:
        self.traces += 1  # runs only while tracing
        if self.stack is not None:
            return self._stacked_step(frozen, mutable, batch)
        model, opt = nnx.merge(self.graphdef, frozen, mutable)

        def loss_fn(m: nnx.Module) -> tuple[jax.Array, jax.Array]:
            return mean_loss(m, batch, self.forward, self.loss_chunk)

        grad_fn = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, AdapterParam), has_aux=True)
        (loss, n_tokens), grads = grad_fn(model)
        opt.update(model, grads)
        return _updated_state(model, opt, loss, n_tokens)

    def _stacked_step(self, frozen: Any, mutable: Any, batch: Batch) -> tuple[Any, dict]:
        """:meth:`_step` differentiating one stacked array per kind of the layers' adapter
        arrays (:mod:`qtn.train.stacked`); returns ``((stacked arrays, other leaves),
        metrics)``, which :meth:`__call__` turns back into the per-layer state."""
        plan, leaves = self.stack, jax.tree.leaves(mutable)
        stacked = plan.stack(leaves)

        def loss_fn(stacked: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
            model, _ = nnx.merge(self.graphdef, frozen, plan.fill(leaves, stacked))
            return mean_loss(model, batch, self.forward, self.loss_chunk)

        (loss, n_tokens), grads = jax.value_and_grad(loss_fn, has_aux=True)(stacked)
        model, opt = nnx.merge(self.graphdef, frozen, mutable)
        params = nnx.as_pure(nnx.state(model, opt.wrt))
        as_params = jax.tree.structure(params)
        updates, new_opt_state = opt.tx.update(  # as nnx.Optimizer.update does
            jax.tree.unflatten(as_params, plan.per_leaf(plan.ravel(grads))),
            nnx.as_pure(opt.opt_state),
            jax.tree.unflatten(as_params, plan.per_leaf(plan.ravel(stacked))),
        )
        flat_update = jnp.concatenate([u.reshape(-1) for u in jax.tree.leaves(updates)])
        new_stacked = plan.add(stacked, flat_update)
        nnx.update(opt.opt_state, nnx.state(new_opt_state))
        opt.step[...] += 1
        new_mutable, metrics = _updated_state(model, opt, loss, n_tokens)
        new_leaves = jax.tree.leaves(new_mutable)
        return (new_stacked, [new_leaves[i] for i in plan.other]), metrics

    def lower(self, batch: Batch) -> tuple[tuple, Any]:
        """``(shape key, jax.stages.Lowered)`` of the step for ``batch``'s shape (traced, not
        compiled: :meth:`install` takes the compiled program, e.g. from a parallel compile)."""
        host = self.inputs.host(batch)
        arrays = device_batch(host, self.mesh)
        return _shape_key(host), self._jitted.lower(self.frozen, self.mutable, arrays)

    def install(self, key: tuple, compiled: Any) -> None:
        """Use ``compiled`` for batches of shape ``key`` (from :meth:`lower`)."""
        self._executables[key] = compiled
        self.flops[key] = _flops(compiled)

    def shape_key(self, batch: Batch) -> tuple:
        """The key of ``batch``'s compiled program (its arrays' names and shapes)."""
        return _shape_key(self.inputs.host(batch))

    def compiled(self, batch: Batch) -> bool:
        """Whether ``batch``'s shape already has a compiled program."""
        return self.shape_key(batch) in self._executables

    def __call__(self, batch: Batch) -> dict[str, jax.Array]:
        host = self.inputs.host(batch)
        key = _shape_key(host)
        arrays = device_batch(host, self.mesh)
        if key not in self._executables:
            _, lowered = self.lower(batch)
            self.install(key, lowered.compile())
        exe = self._executables[key]
        out, metrics = exe(self.frozen, self.mutable, arrays)
        self.mutable = out if self.stack is None else self.stack.rebuild(*out)
        nnx.update((self.model, self.optimizer), self.mutable)
        return metrics

    def step_flops(self, batch: Batch) -> float:
        """XLA's FLOP count of one step on ``batch``'s shape (nan before it was compiled)."""
        return self.flops.get(_shape_key(self.inputs.host(batch)), float("nan"))

    def resync(self) -> None:
        """Re-read the model/optimizer state (after restoring a checkpoint into them); with a
        mesh, (re)place it on the devices and point the model at the placed arrays."""
        self.graphdef, self.frozen, self.mutable = nnx.split(
            (self.model, self.optimizer), FROZEN, ...
        )
        if self.mesh is not None:
            self.frozen = shard_state(self.frozen, self.mesh)
            self.mutable = shard_state(self.mutable, self.mesh)
            nnx.update((self.model, self.optimizer), self.frozen, self.mutable)


class EvalStep:
    """Per-row summed NLL with dropout off: ``step(batch) -> (nll_sum (B,), n_tokens (B,))``.

    Reads the model's current weights on every call (compiled once per batch shape). The
    model's structure is fixed at construction: build a new EvalStep after inject / merge.
    """

    def __init__(
        self,
        model: nnx.Module,
        *,
        forward: Forward = default_forward,
        batch_keys: tuple[str, ...] = MODEL_KEYS,
        select: bool | None = None,
        loss_chunk: int = 0,
        mesh: Any = None,
    ):
        self.model, self.forward = model, forward
        self.inputs = _Inputs(model, forward, batch_keys, select)
        self.loss_chunk, self.mesh = loss_chunk, mesh
        self.traces = 0
        self.graphdef, _ = nnx.split(self._view())
        self._jitted = jax.jit(self._step)
        self._executables: dict[tuple, Any] = {}
        # (B,) results may be split over hosts: replicate them before reading
        self._gather = jax.jit(lambda *a: a, out_shardings=replicated(mesh)) if mesh else None

    def _view(self) -> nnx.Module:
        return nnx.view(self.model, deterministic=True, raise_if_not_found=False)

    def _step(self, state: Any, batch: Batch) -> tuple[jax.Array, jax.Array]:
        self.traces += 1
        return row_losses(nnx.merge(self.graphdef, state), batch, self.forward, self.loss_chunk)

    def lower(self, batch: Batch) -> tuple[tuple, Any]:
        """``(shape key, jax.stages.Lowered)`` for ``batch``'s shape (see TrainStep.lower)."""
        _, state = nnx.split(self._view())
        host = self.inputs.host(batch)
        return _shape_key(host), self._jitted.lower(state, device_batch(host, self.mesh))

    def install(self, key: tuple, compiled: Any) -> None:
        """Use ``compiled`` for batches of shape ``key``."""
        self._executables[key] = compiled

    def shape_key(self, batch: Batch) -> tuple:
        """The key of ``batch``'s compiled program (its arrays' names and shapes)."""
        return _shape_key(self.inputs.host(batch))

    def compiled(self, batch: Batch) -> bool:
        """Whether ``batch``'s shape already has a compiled program."""
        return self.shape_key(batch) in self._executables

    def __call__(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        _, state = nnx.split(self._view())
        host = self.inputs.host(batch)
        key = _shape_key(host)
        if key not in self._executables:
            _, lowered = self.lower(batch)
            self.install(key, lowered.compile())
        nll, n = self._executables[key](state, device_batch(host, self.mesh))
        if self._gather is not None:
            nll, n = self._gather(nll, n)
        return np.asarray(nll, dtype=np.float64), np.asarray(n, dtype=np.float64)


def _updated_state(
    model: nnx.Module, opt: nnx.Optimizer, loss: jax.Array, n_tokens: jax.Array
) -> tuple[Any, dict[str, jax.Array]]:
    """A step's end: the mutable state after the update and the step's metrics (``grad_norm``
    from the one-vector AdamW's state)."""
    grad_norm = optax.tree_utils.tree_get(nnx.as_pure(opt.opt_state), "grad_norm")
    _, _, new_mutable = nnx.split((model, opt), FROZEN, ...)
    return new_mutable, {"loss": loss, "tokens": n_tokens, "grad_norm": grad_norm}


def _shardings(tree: Any) -> Any:
    """The shardings of a pytree of placed arrays (same structure)."""
    return jax.tree.map(lambda a: a.sharding, tree)


def _shape_key(arrays: Mapping[str, Any]) -> tuple:
    return tuple((k, tuple(np.shape(v))) for k, v in sorted(arrays.items()))


def _flops(compiled: Any) -> float:
    """FLOPs from XLA's cost analysis of a compiled function (nan if unavailable)."""
    try:
        cost = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 - some backends do not implement it
        return float("nan")
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", float("nan")))
