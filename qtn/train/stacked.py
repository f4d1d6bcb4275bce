"""A scanned model's adapter arrays, stacked over its layers inside the training step.

With ``scan_layers`` the decoder layers run as one ``lax.scan`` over their stacked state, but
the model holds its adapter arrays per layer. Differentiating with respect to those arrays
makes every one of them a kernel of its own in the compiled step, twice: its gradient cut out
of the scan's stacked gradient, and its update added to it. The paper's QTHA has 11 arrays per
adapted module: 1,323 of the 1,734 kernels of the main job's scanned QTHA step were these
(``benchmarks/bench_step_compile.py``), and XLA:CPU compiles each kernel separately.

:class:`LayerStack` differentiates with respect to one stacked ``(layers, ...)`` array per
kind of adapter array instead (kind = the array's path inside its layer). Inside the step,
every layer's array is a slice of its stack (:func:`unstack`, whose gradient is the stack of
the slices' gradients), so the scan's own stacking of these slices and the cutting of its
gradient cancel out in XLA. The optimizer still sees the arrays per layer, in their usual
order (:meth:`LayerStack.per_leaf`): the one-vector AdamW ravels them into the same vector as
before, so its state and the checkpoints are unchanged. The step returns the stacked arrays;
:meth:`LayerStack.rebuild` cuts them back into the per-layer state outside the program.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qtn.nn.variables import AdapterParam
from qtn.train.optim import key_path


@jax.custom_vjp
def unstack(stacked: jax.Array) -> list[jax.Array]:
    """``[stacked[0], ..., stacked[L-1]]`` whose gradient is the stack of the slices'
    gradients (one concatenate, which XLA cancels against the cutting that produced them)."""
    return [stacked[i] for i in range(stacked.shape[0])]


def _unstack_fwd(stacked: jax.Array) -> tuple[list[jax.Array], None]:
    return unstack(stacked), None


def _unstack_bwd(_: None, grads: list[jax.Array]) -> tuple[jax.Array]:
    return (jnp.stack(grads),)


unstack.defvjp(_unstack_fwd, _unstack_bwd)


@jax.jit
def _layer_slice(stacked: jax.Array, index: jax.Array) -> jax.Array:
    """``stacked[index]`` with a traced index: one small program per stacked shape."""
    return jax.lax.dynamic_index_in_dim(stacked, index, 0, keepdims=False)


@dataclass(frozen=True)
class LayerStack:
    """Where a train step's mutable state holds the layers' adapter arrays.

    The state's leaves (``jax.tree.leaves`` order) are the model's adapter arrays, layer by
    layer with the same kinds in the same order in every layer, followed or preceded by
    everything else (``other``: their leaf indices; optimizer state). ``kinds[k]``: the leaf
    indices of kind ``k`` in layers 0..L-1; ``shapes[k]``: one layer's array shape.
    """

    treedef: Any
    other: tuple[int, ...]
    kinds: tuple[tuple[int, ...], ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def layers(self) -> int:
        return len(self.kinds[0])

    def stack(self, leaves: Sequence[jax.Array]) -> list[jax.Array]:
        """The state's leaves -> one (L, *shape) array per kind."""
        return [jnp.stack([leaves[i] for i in idx]) for idx in self.kinds]

    def fill(self, leaves: Sequence[Any], stacked: Sequence[jax.Array]) -> Any:
        """The state with every adapter array replaced by its slice of ``stacked``
        (differentiable through :func:`unstack`)."""
        out = list(leaves)
        for idx, arrays in zip(self.kinds, (unstack(s) for s in stacked), strict=True):
            for i, a in zip(idx, arrays, strict=True):
                out[i] = a
        return jax.tree.unflatten(self.treedef, out)

    def ravel(self, stacked: Sequence[jax.Array]) -> jax.Array:
        """The adapter arrays as one vector in the state's leaf order (layer by layer), i.e.
        ``ravel_pytree`` of the per-layer arrays: (P,)."""
        return jnp.concatenate(
            [s.reshape(self.layers, -1) for s in stacked], axis=1
        ).reshape(-1)

    def per_leaf(self, flat: jax.Array) -> list[jax.Array]:
        """A (P,) vector in the state's leaf order -> the per-layer arrays it holds (views the
        optimizer ravels back into the same vector)."""
        shapes = list(self.shapes) * self.layers  # a layer's kinds, layer after layer
        sizes = [int(np.prod(shape, dtype=np.int64)) for shape in shapes]
        pieces = jnp.split(flat, np.cumsum(sizes)[:-1])
        return [p.reshape(shape) for p, shape in zip(pieces, shapes, strict=True)]

    def add(self, stacked: Sequence[jax.Array], flat: jax.Array) -> list[jax.Array]:
        """``stacked`` plus the per-layer updates ``flat`` (P,), in each array's dtype."""
        rows = flat.reshape(self.layers, -1)
        out, start = [], 0
        for s, shape in zip(stacked, self.shapes, strict=True):
            size = int(np.prod(shape, dtype=np.int64))
            update = rows[:, start : start + size].reshape(s.shape)
            out.append((s + update).astype(s.dtype))
            start += size
        return out

    def rebuild(self, stacked: Sequence[jax.Array], other: Sequence[Any]) -> Any:
        """The per-layer state from a step's outputs: the stacked adapter arrays cut per layer
        (small dispatches outside the compiled step) and the other leaves as returned."""
        leaves: list[Any] = [None] * self.treedef.num_leaves
        for i, leaf in zip(self.other, other, strict=True):
            leaves[i] = leaf
        for idx, s in zip(self.kinds, stacked, strict=True):
            for layer, i in enumerate(idx):
                leaves[i] = _layer_slice(s, np.int32(layer))
        return jax.tree.unflatten(self.treedef, leaves)


def plan_layer_stack(
    model: nnx.Module, mutable: Any, layers_attr: str = "layers"
) -> LayerStack | None:
    """The :class:`LayerStack` of a train step's ``mutable`` state (``nnx.split((model,
    optimizer), frozen, ...)``'s third part), or None where stacking does not apply: the model
    does not scan its layers, has fewer than two, holds other mutable state (RNG streams,
    statistics) or adapter arrays outside its layers, or its layers' adapter arrays differ in
    kinds, shapes or dtypes."""
    if not getattr(model, "scan_layers", False):
        return None
    adapter_paths = {
        (0, *path) for path, _ in nnx.to_flat_state(nnx.state(model, AdapterParam))
    }
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(mutable)
    adapter, other, where = [], [], []
    for i, (keys, leaf) in enumerate(with_paths):
        path = key_path(keys)
        if path[0] != 0:  # the optimizer's state
            other.append(i)
            continue
        if path not in adapter_paths or len(path) < 4 or path[1] != layers_attr:
            return None  # mutable model state that is not a layer's adapter array
        adapter.append(i)
        where.append((path[2], path[3:], tuple(np.shape(leaf)), np.dtype(leaf.dtype)))
    if not adapter:
        return None
    layer_ids = sorted({w[0] for w in where})
    per_layer = [[w[1:] for w in where if w[0] == layer] for layer in layer_ids]
    if len(layer_ids) < 2 or layer_ids != list(range(len(layer_ids))):
        return None
    if any(p != per_layer[0] for p in per_layer[1:]):
        return None  # layers differ in adapter kinds, shapes or dtypes
    expected = [(layer, kind[0]) for layer in layer_ids for kind in per_layer[0]]
    if [(w[0], w[1]) for w in where] != expected:
        return None  # not layer by layer: stacking would change the optimizer's vector
    n_kinds = len(per_layer[0])
    kinds = tuple(
        tuple(adapter[layer * n_kinds + k] for layer in layer_ids) for k in range(n_kinds)
    )
    shapes = tuple(kind[1] for kind in per_layer[0])
    return LayerStack(treedef, tuple(other), kinds, shapes)
