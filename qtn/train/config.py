"""Training options and the config-section machinery: :class:`TrainConfig` (the ``train``
section of a run config), ``--set key=value`` overrides, and the parsing of a YAML mapping
into a frozen dataclass section with every problem reported (unknown keys with a close-match
hint, wrong types, ints read into float fields).

The whole run config (model, data, adapter, train, eval) is
:class:`qtn.experiment.config.RunConfig`, built with these helpers.

>>> parse_override("train.lr=3e-4")
('train.lr', 0.0003)
>>> build_section("train", TrainConfig, {"stepz": 3})[1]  # doctest: +ELLIPSIS
["unknown key train.stepz (did you mean train.steps?); known: [...]"]
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from qtn.models.llama import REMAT_MODES


class ConfigError(ValueError):
    """An invalid run configuration (the message lists every problem found)."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: clip_by_global_norm -> AdamW, linear warmup then cosine decay to
    ``lr · min_lr_ratio``; circuit angles get ``angle_lr`` (default ``lr``).

    ``steps`` counts optimizer updates; each consumes ``grad_accum`` micro-batches.
    ``log_every`` / ``eval_every`` / ``checkpoint_every`` are in optimizer steps (0 = never;
    eval and a final checkpoint still happen at the end). ``compile_cache_dir``: JAX's
    persistent compilation cache (runs with the same model, adapter and batch shapes, e.g.
    the seeds of a sweep, the points of a learning-rate selection (``lr`` / ``angle_lr`` live
    in the optimizer state, not in the program) or a rerun, then load their programs instead
    of compiling them);
    ``default`` is ``<qtn cache dir>/xla`` (``$QTN_CACHE_DIR`` or the user cache), null
    leaves JAX's setting alone.
    ``select_loss_positions``: compute logits only at loss positions (same loss, fewer FLOPs
    for instruction SFT; each power-of-two count of loss tokens is its own compiled shape).

    Scale: ``remat`` (``none`` | ``layer`` | ``attention_mlp``) recomputes decoder-layer
    activations in the backward pass instead of storing them (see
    :data:`qtn.models.llama.REMAT_MODES`); ``loss_chunk``: rows of the output head and
    cross-entropy computed at a time, never the whole (tokens × vocab) logits (0 = full
    logits; see :mod:`qtn.train.cross_entropy`). ``scan_layers``: run the decoder layers as one
    ``lax.scan`` when they are alike (the compiled program holds one layer: an adapter with a
    large per-token circuit in every layer compiles in bounded time and memory; costs one copy
    of the layers' weights per step; see :func:`qtn.models.llama.scan_layers`).
    """

    steps: int = 100
    grad_accum: int = 1
    lr: float = 1e-3
    angle_lr: float | None = None
    weight_decay: float = 0.0
    angle_weight_decay: float = 0.0
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    clip_norm: float = 1.0
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    log_every: int = 1
    eval_every: int = 0
    eval_batches: int | None = None
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    progress: bool = True
    compile_cache_dir: str | None = "default"
    select_loss_positions: bool = True
    remat: str = "none"
    loss_chunk: int = 256
    scan_layers: bool = False

    def check(self) -> list[str]:
        e = []
        for name in ("steps", "grad_accum", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                e.append(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 0:
                e.append(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if self.warmup_steps >= self.steps > 0:
            e.append(f"train.warmup_steps ({self.warmup_steps}) must be < steps ({self.steps})")
        for name in ("lr", "angle_lr", "eps"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                e.append(f"train.{name} must be > 0, got {v}")
        for name in ("weight_decay", "angle_weight_decay", "clip_norm"):
            if getattr(self, name) < 0:
                e.append(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.min_lr_ratio <= 1:
            e.append(f"train.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        for name in ("b1", "b2"):
            if not 0 <= getattr(self, name) < 1:
                e.append(f"train.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.eval_batches is not None and self.eval_batches < 1:
            e.append(f"train.eval_batches must be >= 1 or null, got {self.eval_batches}")
        if self.remat not in REMAT_MODES:
            e.append(f"train.remat must be one of {REMAT_MODES}, got {self.remat!r}")
        if not isinstance(self.scan_layers, bool):
            e.append(f"train.scan_layers must be true or false, got {self.scan_layers!r}")
        if self.loss_chunk < 0:
            e.append(f"train.loss_chunk must be >= 0 (0 = full logits), got {self.loss_chunk}")
        return e


@dataclass(frozen=True)
class ParallelConfig:
    """Devices and hosts (the ``parallel`` section of a run config).

    ``data`` x ``fsdp`` is the device mesh (:func:`qtn.nn.sharding.make_mesh`, its product
    must be the number of devices of all processes): batches are split over both axes, frozen
    base weights over ``fsdp``, adapters are replicated. ``1 x 1`` (the default) runs on one
    device without a mesh. ``distributed``: ``auto`` calls ``jax.distributed.initialize``
    when the environment describes several processes (``JAX_COORDINATOR_ADDRESS`` +
    ``JAX_NUM_PROCESSES`` + ``JAX_PROCESS_ID``, or a Slurm job step with several tasks; see
    :mod:`qtn.train.distributed`), ``off`` never does.
    """

    data: int = 1
    fsdp: int = 1
    distributed: str = "auto"

    @property
    def devices(self) -> int:
        return self.data * self.fsdp

    def check(self) -> list[str]:
        e = [
            f"parallel.{name} must be >= 1, got {getattr(self, name)}"
            for name in ("data", "fsdp")
            if getattr(self, name) < 1
        ]
        if self.distributed not in ("auto", "off"):
            e.append(f"parallel.distributed must be 'auto' or 'off', got {self.distributed!r}")
        return e


def parse_override(item: str) -> tuple[str, Any]:
    """``"train.lr=3e-4"`` -> ``("train.lr", 0.0003)``; the value is YAML (so ``[a, b]``,
    ``null``, ``true`` work) and plain numbers like ``1e-3`` are numbers."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value")
    key, text = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {item!r} has an empty key")
    for conv in (int, float):
        try:
            return key, conv(text)
        except ValueError:
            pass
    try:
        return key, yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {item!r}: value is not valid YAML ({err})") from None


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    """``set_dotted(d, "train.lr", 1e-3)`` sets ``d["train"]["lr"]`` (creating sections)."""
    *parents, last = key.split(".")
    node = d
    for p in parents:
        child = node.get(p)
        if child is None:
            child = node[p] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key!r}: {p!r} is not a section")
        node = child
    node[last] = value


def build_section(name: str, cls: type, value: Any) -> tuple[Any, list[str]]:
    """``(section, errors)``: the dataclass ``cls`` built from the YAML mapping ``value`` of
    section ``name`` (None = all defaults; section None when ``value`` is not a mapping)."""
    if value is None:
        return cls(), []
    if not isinstance(value, Mapping):
        return None, [f"{name} must be a mapping, got {value!r}"]
    hints = typing.get_type_hints(cls)
    fields_ = {f.name: f for f in dataclasses.fields(cls)}
    errors = [unknown_key(name + ".", k, fields_) for k in value if k not in fields_]
    kw = {}
    for k, v in value.items():
        if k in fields_:
            errs = check_type(f"{name}.{k}", v, hints[k])
            errors += errs
            if not errs:
                kw[k] = _coerce(v, hints[k])
    return cls(**kw), errors


def _coerce(value: Any, annotation: Any) -> Any:
    """ints become floats in float fields (YAML reads ``1`` as int)."""
    args = typing.get_args(annotation) or (annotation,)
    if isinstance(value, int) and not isinstance(value, bool) and float in args and int not in args:
        return float(value)
    return value


def check_type(where: str, value: Any, annotation: Any) -> list[str]:
    """``[]`` if ``value`` fits the type ``annotation``, else one error naming ``where``."""
    if _matches(value, annotation):
        return []
    return [f"{where} must be {_type_name(annotation)}, got {value!r} ({type(value).__name__})"]


def _matches(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return True


def _type_name(annotation: Any) -> str:
    args = typing.get_args(annotation)
    if args:
        return " or ".join(_type_name(a) for a in args)
    return "null" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def unknown_key(prefix: str, key: str, known: Mapping[str, Any]) -> str:
    """The error for an unknown ``prefix + key``, with the closest known key as a hint."""
    close = difflib.get_close_matches(str(key), list(known), n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return f"unknown key {prefix}{key}{hint}; known: {sorted(known)}"


def error_report(errors: list[str]) -> str:
    """The :class:`ConfigError` message listing ``errors``, one per line."""
    return "invalid run config:\n  - " + "\n  - ".join(errors)
