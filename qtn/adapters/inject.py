"""Put adapters into a model (by target-module patterns) and fold them back out (merge)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
from flax import nnx

from qtn.adapters.spec import AdapterSpec, Targets, matches_target, path_str
from qtn.nn.adapter import AdapterLayer
from qtn.nn.linear import Linear


def linear_paths(model: nnx.Module) -> list[str]:
    """Dotted paths of every plain (not yet adapted) ``Linear`` in ``model``, in graph order."""
    return [
        path_str(p)
        for p, m in nnx.iter_modules(model)
        if isinstance(m, Linear) and not _inside_adapter(model, p)
    ]


def adapter_layers(model: nnx.Module) -> list[tuple[str, AdapterLayer]]:
    """``(dotted path, layer)`` of every adapter layer in ``model``, in graph order."""
    return [(path_str(p), m) for p, m in nnx.iter_modules(model) if isinstance(m, AdapterLayer)]


def inject(
    model: nnx.Module,
    method: str,
    target_modules: Targets | Sequence[str],
    *,
    rngs: nnx.Rngs | None = None,
    **cfg: Any,
) -> list[str]:
    """Replace the targeted ``Linear`` layers of ``model`` (in place) by adapter layers.

    Args:
        model: any NNX module tree holding :class:`qtn.nn.linear.Linear` layers.
        method: a name in :data:`qtn.adapters.registry.METHODS` (``lora``...).
        target_modules: regex (whole dotted path) or list of names / dotted suffixes.
        rngs: random streams for adapter init (default ``nnx.Rngs(0)``).
        **cfg: the method's config fields (``r=8, alpha=16``) and per-module override maps
            (``rank_pattern={"v_proj": 4}``, ``bond_pattern=...``, ``depth_pattern=...``).

    Returns:
        The dotted paths of the injected layers, in graph order.
    """
    targets = target_modules if isinstance(target_modules, str) else tuple(target_modules)
    patterns_allowed = AdapterSpec(method, targets).adapter_method.pattern_names()
    spec = AdapterSpec(
        method=method,
        target_modules=targets,
        options={k: v for k, v in cfg.items() if k not in patterns_allowed},
        patterns={k: v for k, v in cfg.items() if k in patterns_allowed},
    )
    return inject_spec(model, spec, rngs=rngs)


def inject_spec(model: nnx.Module, spec: AdapterSpec, *, rngs: nnx.Rngs | None = None) -> list[str]:
    """:func:`inject` driven by an :class:`AdapterSpec` (validated first)."""
    spec.validate()
    rngs = rngs if rngs is not None else nnx.Rngs(0)
    method = spec.adapter_method
    adapted = {p for p, _ in adapter_layers(model)}
    already = sorted(p for p in adapted if matches_target(p, spec.target_modules))
    if already:
        raise ValueError(f"modules already adapted (merge or reload the model first): {already}")
    candidates = linear_paths(model)
    chosen = [p for p in candidates if matches_target(p, spec.target_modules)]
    if not chosen:
        raise ValueError(
            f"target_modules {spec.target_modules!r} matched no Linear layer; "
            f"available: {_summarise(candidates)}"
        )
    configs = {p: spec.config_for(p) for p in chosen}  # all config errors before any change
    layers = {}
    for p in chosen:  # build every layer first: an error (named by module) changes nothing
        try:
            layers[p] = method.factory(get_submodule(model, p), configs[p], rngs)
        except ValueError as err:
            raise ValueError(f"{spec.method} adapter for module {p}: {err}") from err
    for p in chosen:
        set_submodule(model, p, layers[p])
    return chosen


def merge(model: nnx.Module) -> list[str]:
    """Fold every adapter into its base kernel (``W0 + delta_weight()``) and put the plain
    ``Linear`` back in its place (in place). Returns the merged paths. Raises ValueError,
    changing nothing, if any layer is nonlinear in x (``merge_error()``, e.g. the paper's
    QTHA with its QNN)."""
    refused = [(path, layer.merge_error()) for path, layer in adapter_layers(model)]
    refused = [(path, why) for path, why in refused if why is not None]
    if refused:
        paths = [p for p, _ in refused]
        raise ValueError(f"cannot merge {_summarise(paths)}: {refused[0][1]}")
    merged = []
    for path, layer in adapter_layers(model):
        base = layer.base
        kernel = base.kernel[...]
        base.kernel[...] = (kernel + layer.delta_weight().astype(jnp.float32)).astype(kernel.dtype)
        set_submodule(model, path, base)
        merged.append(path)
    return merged


def get_submodule(model: nnx.Module, path: str) -> Any:
    """The node at dotted ``path`` (integer parts index lists)."""
    node: Any = model
    for part in path.split(".") if path else []:
        node = _child(node, part)
    return node


def set_submodule(model: nnx.Module, path: str, value: Any) -> None:
    """Replace the node at dotted ``path`` by ``value``."""
    *parents, last = path.split(".")
    parent = get_submodule(model, ".".join(parents))
    if isinstance(parent, nnx.Module) and not isinstance(parent, nnx.List | nnx.Dict):
        setattr(parent, last, value)
    elif last.isdigit() and not isinstance(parent, dict | nnx.Dict):
        parent[int(last)] = value
    else:
        parent[last] = value


def _child(node: Any, part: str) -> Any:
    if isinstance(node, nnx.Module) and not isinstance(node, nnx.List | nnx.Dict):
        return getattr(node, part)
    if part.isdigit() and not isinstance(node, dict | nnx.Dict):
        return node[int(part)]
    return node[part]


def _inside_adapter(model: nnx.Module, path: tuple) -> bool:
    node: Any = model
    for part in path[:-1]:
        node = _child(node, str(part))
        if isinstance(node, AdapterLayer):
            return True
    return False


def _summarise(paths: list[str], limit: int = 12) -> str:
    if len(paths) <= limit:
        return str(paths)
    return f"{paths[:limit]} ... ({len(paths)} in all)"
