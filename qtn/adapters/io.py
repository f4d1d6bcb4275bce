"""Adapter files: ``adapter.safetensors`` (the AdapterParam tensors by dotted path) +
``adapter_config.json`` (the :class:`AdapterSpec`, adapted modules, tensor shapes).

Only safetensors and JSON are read (no pickle). Loading re-injects the recorded spec into a
fresh model (the frozen parts of an adapter are recomputed from the base weights), then checks
every module path, tensor name and shape, reporting all mismatches together.

Files written before ``qtha`` became the paper's architecture (``method: qtha`` with modules of
kind ``HybridLinear``: qtn's weight-space hybrid) are read as ``method: circuit_mpo``, the
name that method has now; options and tensor names are unchanged, so they load as they were
saved (``read_adapter_config`` records ``"renamed_from": "qtha"``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from safetensors.numpy import load_file, save_file

import qtn
from qtn.adapters.inject import adapter_layers, inject_spec
from qtn.adapters.spec import AdapterSpec, path_str
from qtn.nn.variables import AdapterParam

ADAPTER_FILE = "adapter.safetensors"
CONFIG_FILE = "adapter_config.json"
FORMAT = "qtn-adapter"
FORMAT_VERSION = 1


def state_arrays(model: nnx.Module, filt: Any = AdapterParam) -> dict[str, np.ndarray]:
    """``{dotted path: numpy array}`` of the variables of ``model`` selected by ``filt``
    (bfloat16 is widened to float32: safetensors' numpy API has no bfloat16)."""
    out = {}
    for path, var in _array_vars(model, filt):
        arr = var.get_value()
        if jnp.issubdtype(arr.dtype, jax.dtypes.prng_key):
            arr = jax.random.key_data(arr)
        elif arr.dtype == jnp.bfloat16:
            arr = arr.astype(jnp.float32)
        out[path_str(path)] = np.asarray(arr)
    return out


def set_state_arrays(
    model: nnx.Module, arrays: Mapping[str, np.ndarray], filt: Any = AdapterParam, what: str = ""
) -> None:
    """Assign ``arrays`` (as produced by :func:`state_arrays`) to the variables selected by
    ``filt``; names and shapes must match exactly (all differences reported in one error)."""
    flat = {path_str(p): v for p, v in _array_vars(model, filt)}
    errors = []
    missing = sorted(set(flat) - set(arrays))
    unexpected = sorted(set(arrays) - set(flat))
    if missing:
        errors.append(f"missing tensors: {missing}")
    if unexpected:
        errors.append(f"unexpected tensors: {unexpected}")
    for name in sorted(set(flat) & set(arrays)):
        var, arr = flat[name], arrays[name]
        cur = var.get_value()
        want = jax.random.key_data(cur).shape if _is_key(cur) else cur.shape
        if tuple(arr.shape) != tuple(want):
            errors.append(f"{name}: shape {tuple(arr.shape)} in file, model expects {want}")
    if errors:
        raise ValueError(f"{what or 'state'} does not fit the model:\n  " + "\n  ".join(errors))
    for name, var in flat.items():
        cur = var.get_value()
        if _is_key(cur):
            impl = jax.random.key_impl(cur)
            var.set_value(jax.random.wrap_key_data(jnp.asarray(arrays[name]), impl=impl))
        else:
            var.set_value(jnp.asarray(arrays[name], dtype=cur.dtype))


def save_adapter(
    model: nnx.Module,
    directory: str | os.PathLike,
    spec: AdapterSpec | Mapping[str, Any],
    *,
    base_model: str | None = None,
) -> Path:
    """Write ``adapter.safetensors`` + ``adapter_config.json`` into ``directory`` (atomically:
    a temp dir is renamed into place). Returns the directory."""
    spec = spec if isinstance(spec, AdapterSpec) else AdapterSpec.from_dict(spec)
    layers = adapter_layers(model)
    if not layers:
        raise ValueError("the model has no adapter layers to save")
    arrays = state_arrays(model)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "qtn_version": qtn.__version__,
        "base_model": base_model,
        "adapter": spec.to_dict(),
        "modules": {
            p: {
                "kind": type(m).__name__,
                "in_features": m.in_features,
                "out_features": m.out_features,
                "trainable": m.num_trainable(),
            }
            for p, m in layers
        },
        "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()},
    }
    with atomic_directory(directory) as tmp:
        save_file(arrays, str(tmp / ADAPTER_FILE), metadata={"format": FORMAT})
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return Path(directory)


def read_adapter_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``adapter_config.json`` of a saved adapter (format checked)."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} in {directory} (not a qtn adapter directory)")
    config = json.loads(path.read_text())
    if config.get("format") != FORMAT:
        hint = " (a PEFT adapter? qtn loads its own format)" if "peft_type" in config else ""
        raise ValueError(f"{path}: format is {config.get('format')!r}, expected {FORMAT!r}{hint}")
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {config.get('format_version')!r}, "
            f"this qtn reads {FORMAT_VERSION}"
        )
    return upgrade_legacy_method(config)


def upgrade_legacy_method(config: dict[str, Any]) -> dict[str, Any]:
    """An adapter config of the weight-space hybrid saved under its old name ``qtha`` (every
    module a ``HybridLinear``) -> the same config with ``method: circuit_mpo``."""
    adapter = config.get("adapter") or {}
    kinds = {m.get("kind") for m in (config.get("modules") or {}).values()}
    if adapter.get("method") == "qtha" and kinds == {"HybridLinear"}:
        config = {
            **config,
            "adapter": {**adapter, "method": "circuit_mpo"},
            "renamed_from": "qtha",
        }
    return config


def load_adapter(
    model: nnx.Module, directory: str | os.PathLike, *, rngs: nnx.Rngs | None = None
) -> AdapterSpec:
    """Inject the saved spec into ``model`` (unless already injected) and load the tensors.

    Raises ValueError naming every mismatch (modules, tensor names, shapes). Returns the spec.
    """
    config = read_adapter_config(directory)
    spec = AdapterSpec.from_dict(config["adapter"])
    if not adapter_layers(model):
        inject_spec(model, spec, rngs=rngs)
    have = {p: m for p, m in adapter_layers(model)}
    want = config["modules"]
    errors = []
    if sorted(have) != sorted(want):
        errors.append(
            f"adapted modules differ: missing in model {sorted(set(want) - set(have))}, "
            f"not in file {sorted(set(have) - set(want))}"
        )
    for p in sorted(set(have) & set(want)):
        m, w = have[p], want[p]
        if (m.in_features, m.out_features) != (w["in_features"], w["out_features"]):
            errors.append(
                f"{p}: model layer is {m.in_features}x{m.out_features}, adapter was saved for "
                f"{w['in_features']}x{w['out_features']} (different base model?)"
            )
    if errors:
        raise ValueError(f"adapter {directory} does not fit the model:\n  " + "\n  ".join(errors))
    arrays = load_file(str(Path(directory) / ADAPTER_FILE))
    set_state_arrays(model, arrays, AdapterParam, what=f"adapter {directory}")
    return spec


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp dir next to ``target``; on success it replaces ``target`` (rename), on
    error it is deleted and ``target`` is left untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _array_vars(model: Any, filt: Any) -> list[tuple[tuple, nnx.Variable]]:
    """Flat ``(path, variable)`` pairs of array-valued variables (optax's empty placeholder
    states such as ``MaskedNode`` hold no array and are skipped)."""
    return [
        (p, v)
        for p, v in nnx.to_flat_state(nnx.state(model, filt))
        if isinstance(v.get_value(), jax.Array | np.ndarray)
    ]


def _is_key(x: Any) -> bool:
    return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)
