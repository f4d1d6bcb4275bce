"""Run configuration: a frozen dataclass parsed from YAML with ``--set key=value`` overrides.

Everything is validated (unknown keys, types, ranges, the adapter spec and the data options)
before anything expensive is loaded; all problems are reported together in one
:class:`ConfigError`. Example ``experiments/<name>/config.yaml``::

    name: lora_sentiment
    seed: 0
    model: {path: default, dtype: float32}
    data: {task: sentiment, n_train: 512, n_eval: 128, max_len: 128, batch_size: 8}
    adapter: {method: lora, target_modules: [q_proj, v_proj], r: 8, alpha: 16}
    train: {steps: 100, lr: 1.0e-3, warmup_steps: 10, checkpoint_every: 50}
    eval: {split: test}

``adapter: null`` (or ``method: none``) trains nothing and only evaluates the base model.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qtn.adapters.spec import AdapterSpec


class ConfigError(ValueError):
    """An invalid run configuration (the message lists every problem found)."""


@dataclass(frozen=True)
class ModelConfig:
    """``path``: what :func:`qtn.hf.from_pretrained` accepts (HF folder, ``.gguf`` file, hub
    id), or ``default``: the offline SmolLM2-135M-Instruct."""

    path: str = "default"
    dtype: str = "float32"

    def check(self) -> list[str]:
        ok = ("float32", "bfloat16", "float16")
        return [] if self.dtype in ok else [f"model.dtype must be one of {ok}, got {self.dtype!r}"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: clip_by_global_norm -> AdamW, linear warmup then cosine decay to
    ``lr · min_lr_ratio``; circuit angles get ``angle_lr`` (default ``lr``).

    ``steps`` counts optimizer updates; each consumes ``grad_accum`` micro-batches.
    ``log_every`` / ``eval_every`` / ``checkpoint_every`` are in optimizer steps (0 = never;
    eval and a final checkpoint still happen at the end). ``compile_cache_dir``: JAX's
    persistent compilation cache (runs with the same model, adapter and batch shapes, e.g.
    the seeds of a sweep, then skip XLA compilation); None leaves JAX's setting alone.
    ``select_loss_positions``: compute logits only at loss positions (same loss, fewer FLOPs
    for instruction SFT; each power-of-two count of loss tokens is its own compiled shape).
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
    compile_cache_dir: str | None = None
    select_loss_positions: bool = True

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
        return e


@dataclass(frozen=True)
class EvalConfig:
    """Final evaluation: loss / perplexity on ``split`` and the task metric (accuracy by label
    log-likelihood, perplexity, or exact match by greedy generation of ``max_new_tokens``)."""

    split: str = "test"
    metric: bool = True
    max_new_tokens: int = 48

    def check(self) -> list[str]:
        e = []
        if self.split not in ("train", "val", "test"):
            e.append(f"eval.split must be train/val/test, got {self.split!r}")
        if self.max_new_tokens < 1:
            e.append(f"eval.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        return e


SECTIONS: Mapping[str, type] = types.MappingProxyType(
    {"model": ModelConfig, "train": TrainConfig, "eval": EvalConfig}
)


@dataclass(frozen=True)
class RunConfig:
    """One training run. ``data`` and ``adapter`` are the flat mappings of their YAML sections
    (validated by ``qtn.data.DataConfig.from_dict`` and :meth:`AdapterSpec.from_dict`);
    ``out_dir`` defaults to ``runs/<name>``."""

    name: str = "run"
    seed: int = 0
    out_dir: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    data: Mapping[str, Any] = field(default_factory=lambda: {"task": "sentiment"})
    adapter: Mapping[str, Any] | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def adapter_spec(self) -> AdapterSpec | None:
        """The adapter to inject, or None for a no-adapter (base model) run."""
        if self.adapter is None or self.adapter.get("method") in (None, "none"):
            return None
        return AdapterSpec.from_dict(self.adapter)

    @property
    def data_options(self) -> dict[str, Any]:
        """The ``data`` section with the run seed as default data seed."""
        return {"seed": self.seed, **self.data}

    def data_config(self) -> Any:
        """The parsed ``qtn.data.DataConfig``."""
        from qtn.data.pipeline import DataConfig

        return DataConfig.from_dict(self.data_options)

    @property
    def output_dir(self) -> Path:
        return Path(self.out_dir) if self.out_dir else Path("runs") / self.name

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (the YAML form); ``from_dict(to_dict())`` gives an equal config."""
        return {
            "name": self.name,
            "seed": self.seed,
            "out_dir": self.out_dir,
            "model": dataclasses.asdict(self.model),
            "data": dict(self.data),
            "adapter": dict(self.adapter) if self.adapter is not None else None,
            "train": dataclasses.asdict(self.train),
            "eval": dataclasses.asdict(self.eval),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunConfig:
        """Validate and build; raises :class:`ConfigError` listing every problem."""
        errors: list[str] = []
        if not isinstance(d, Mapping):
            raise ConfigError(f"a run config must be a mapping, got {type(d).__name__}")
        top = {f.name: f for f in dataclasses.fields(cls)}
        for key in d:
            if key not in top:
                errors.append(_unknown("", key, top))
        kw: dict[str, Any] = {}
        for name in ("name", "seed", "out_dir"):
            if name in d:
                errs = _check_type(name, d[name], typing.get_type_hints(cls)[name])
                errors += errs
                if not errs:
                    kw[name] = d[name]
        for name, section_cls in SECTIONS.items():
            if name in d:
                section, errs = _build_section(name, section_cls, d[name])
                errors += errs
                if section is not None:
                    kw[name] = section
        if "data" in d:
            if isinstance(d["data"], Mapping):
                kw["data"] = dict(d["data"])
            else:
                errors.append(f"data must be a mapping, got {d['data']!r}")
        if "adapter" in d:
            if d["adapter"] is None or isinstance(d["adapter"], Mapping):
                kw["adapter"] = dict(d["adapter"]) if d["adapter"] is not None else None
            else:
                errors.append(f"adapter must be a mapping or null, got {d['adapter']!r}")
        config = cls(**kw)
        errors += config.model.check() + config.train.check() + config.eval.check()
        try:
            _ = config.adapter_spec
        except (ValueError, TypeError) as err:
            errors.append(f"adapter: {err}")
        try:
            dc = config.data_config()
            if dc.batch_size < 1 or dc.max_len < 2:
                errors.append("data.batch_size must be >= 1 and data.max_len >= 2")
        except (ValueError, TypeError, KeyError) as err:
            errors.append(f"data: {err}")
        if errors:
            raise ConfigError(_report(errors))
        return config


def load_config(
    path: str | Path | None = None, overrides: Sequence[str] = (), **updates: Any
) -> RunConfig:
    """Read ``path`` (YAML; None = all defaults), apply ``--set`` style ``overrides``
    (``"train.lr=3e-4"``, ``"adapter.target_modules=[q_proj, v_proj]"``) and keyword
    ``updates`` (``out_dir="runs/x"``), then validate."""
    d: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        d = yaml.safe_load(path.read_text()) or {}
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: expected a YAML mapping at top level")
    for item in overrides:
        key, value = parse_override(item)
        set_dotted(d, key, value)
    for key, value in updates.items():
        set_dotted(d, key, value)
    return RunConfig.from_dict(d)


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


def _build_section(name: str, cls: type, value: Any) -> tuple[Any, list[str]]:
    if value is None:
        return cls(), []
    if not isinstance(value, Mapping):
        return None, [f"{name} must be a mapping, got {value!r}"]
    hints = typing.get_type_hints(cls)
    fields_ = {f.name: f for f in dataclasses.fields(cls)}
    errors = [_unknown(name + ".", k, fields_) for k in value if k not in fields_]
    kw = {}
    for k, v in value.items():
        if k in fields_:
            errs = _check_type(f"{name}.{k}", v, hints[k])
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


def _check_type(where: str, value: Any, annotation: Any) -> list[str]:
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


def _unknown(prefix: str, key: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return f"unknown key {prefix}{key}{hint}; known: {sorted(known)}"


def _report(errors: list[str]) -> str:
    return "invalid run config:\n  - " + "\n  - ".join(errors)
