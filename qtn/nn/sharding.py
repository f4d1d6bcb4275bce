"""Device meshes and parameter shardings (MaxText / bonsai style).

Parameters carry *logical* axis names in their ``axes`` metadata (``("embed", "mlp")``, set by
the model, see :mod:`qtn.models.llama`); one rules table, :data:`LOGICAL_RULES`, maps each
logical name to a mesh axis or None (replicated). The mesh has two axes:

- ``data``: the batch is split along it (data parallelism);
- ``fsdp``: frozen base weights are split along it (each device holds ``1/fsdp`` of every
  weight matrix, on its ``embed`` dimension), and the batch too (FSDP is data parallel over
  the devices that share the weights).

Parameters without logical names (adapter tensors, RNG state, optimizer state) are
replicated. Nothing here is global: meshes are built from a config and passed explicitly.

>>> rules = dict(LOGICAL_RULES)
>>> rules["embed"], rules["mlp"]
('fsdp', None)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp")
BATCH_AXES = ("data", "fsdp")
LOGICAL_RULES: tuple[tuple[str, str | None], ...] = (
    ("embed", "fsdp"),
    ("vocab", None),
    ("mlp", None),
    ("q_heads", None),
    ("kv_heads", None),
    ("head_dim", None),
    ("norm", None),
)
"""Logical axis name -> mesh axis (None: replicated along that dimension)."""


def make_mesh(data: int = 1, fsdp: int = 1, devices: Sequence[Any] | None = None) -> Mesh:
    """A ``(data, fsdp)`` mesh over ``devices`` (default: all of ``jax.devices()``, every
    process's). ``data · fsdp`` must equal the number of devices."""
    devices = list(jax.devices() if devices is None else devices)
    if data < 1 or fsdp < 1:
        raise ValueError(f"mesh sizes must be >= 1, got data={data}, fsdp={fsdp}")
    if data * fsdp != len(devices):
        raise ValueError(
            f"parallel: data={data} x fsdp={fsdp} = {data * fsdp} devices, but "
            f"{len(devices)} are available ({devices[0].platform}); set parallel.data and "
            "parallel.fsdp so their product is the device count (for CPU tests: "
            "XLA_FLAGS=--xla_force_host_platform_device_count=N before jax is imported)"
        )
    return Mesh(np.asarray(devices, dtype=object).reshape(data, fsdp), MESH_AXES)


def logical_spec(
    axes: Sequence[str | None] | None,
    rules: Sequence[tuple[str, str | None]] = LOGICAL_RULES,
) -> PartitionSpec:
    """PartitionSpec of a parameter with logical ``axes`` (None / missing: replicated).

    Raises:
        ValueError: a logical name that is not in ``rules``.
    """
    if not axes:
        return PartitionSpec()
    table = dict(rules)
    unknown = [a for a in axes if a is not None and a not in table]
    if unknown:
        raise ValueError(f"logical axes {unknown} have no rule; known: {sorted(table)}")
    return PartitionSpec(*(table[a] if a is not None else None for a in axes))


def variable_sharding(
    var: Any, mesh: Mesh, rules: Sequence[tuple[str, str | None]] = LOGICAL_RULES
) -> NamedSharding:
    """The sharding of one NNX variable (abstract or concrete) on ``mesh`` from its ``axes``
    metadata; a dimension not divisible by its mesh axis size is an error naming both."""
    meta = var.get_metadata() if hasattr(var, "get_metadata") else {}
    spec = logical_spec(meta.get("axes"), rules)
    shape = tuple(var.get_value().shape) if hasattr(var, "get_value") else tuple(var.shape)
    for dim, axis in zip(shape, spec, strict=False):
        if axis is not None and dim % mesh.shape[axis]:
            raise ValueError(
                f"cannot shard a dimension of size {dim} (shape {shape}, axes "
                f"{meta.get('axes')}) over mesh axis {axis!r} of size {mesh.shape[axis]}"
            )
    return NamedSharding(mesh, spec)


def param_sharding_fn(
    mesh: Mesh, rules: Sequence[tuple[str, str | None]] = LOGICAL_RULES
) -> Callable[[tuple, Any], NamedSharding]:
    """``(path, variable) -> NamedSharding``: what :func:`qtn.hf.from_pretrained` and
    :func:`qtn.models.random_init.random_llama` take as ``shardings``."""
    return lambda path, var: variable_sharding(var, mesh, rules)


def shard_state(state: Any, mesh: Mesh, rules=LOGICAL_RULES) -> Any:
    """``state`` with every array placed by its logical axes (device_put per variable;
    non-array leaves, e.g. optax's masked nodes, are kept as they are)."""
    flat = []
    for path, v in nnx.to_flat_state(state):
        if hasattr(v, "get_value") and hasattr(v.get_value(), "shape"):
            v = v.replace(jax.device_put(v.get_value(), variable_sharding(v, mesh, rules)))
        flat.append((path, v))
    return nnx.from_flat_state(flat)


def shard_module(module: nnx.Module, mesh: Mesh, rules=LOGICAL_RULES) -> None:
    """Place every variable of ``module`` (in place) by its logical axes."""
    nnx.update(module, shard_state(nnx.state(module), mesh, rules))


def batch_sharding(mesh: Mesh, batch_size: int | None = None) -> NamedSharding:
    """Leading (batch) dimension split over ``data`` and ``fsdp`` together (FSDP is data
    parallel across the devices that share the weights), or over ``data`` only when
    ``batch_size`` is not divisible by ``data · fsdp``.

    Raises:
        ValueError: ``batch_size`` not divisible by the ``data`` axis size.
    """
    if batch_size is None or batch_size % mesh.size == 0:
        return NamedSharding(mesh, PartitionSpec(BATCH_AXES))
    if batch_size % mesh.shape["data"] == 0:
        return NamedSharding(mesh, PartitionSpec("data"))
    raise ValueError(
        f"batch size {batch_size} is not divisible by parallel.data={mesh.shape['data']}"
    )


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def put_global(value: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from a host array every process holds whole (each process places only
    its addressable shards: no cross-host transfer)."""
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])
