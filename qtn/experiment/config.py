"""Run configuration: a frozen dataclass parsed from YAML with ``--set key=value`` overrides.

Everything is validated (unknown keys, types, ranges, the adapter spec and the data options;
a ``jsonl`` task's files are read to check its metric options against the labels) before
anything expensive is loaded; all problems are reported together in one :class:`ConfigError`.
Example ``experiments/<name>/config.yaml``::

    name: lora_sentiment
    seed: 0
    model: {path: default, dtype: float32}
    data: {task: sentiment, n_train: 512, n_eval: 128, max_len: 128, batch_size: 8}
    adapter: {method: lora, target_modules: [q_proj, v_proj], r: 8, alpha: 16}
    train: {steps: 100, lr: 1.0e-3, warmup_steps: 10, checkpoint_every: 50}
    eval: {split: test}

A billion-parameter model on one machine or many (all optional)::

    model: {path: /data/Qwen2-7B, dtype: float32, param_dtype: bfloat16}
    train: {remat: layer, loss_chunk: 256}
    parallel: {data: 2, fsdp: 2}       # 4 devices: batch over both axes, weights over fsdp

``adapter: null`` (or ``method: none``) trains nothing and only evaluates the base model.
The ``train`` section is :class:`qtn.train.config.TrainConfig`; the section parsing and the
``--set`` rules live in :mod:`qtn.train.config` too.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qtn.adapters.spec import AdapterSpec
from qtn.data.pipeline import DataConfig
from qtn.data.registry import check_task
from qtn.quantum.config import QuantumConfig
from qtn.train.config import (
    ConfigError,
    ParallelConfig,
    TrainConfig,
    build_section,
    check_type,
    error_report,
    parse_override,
    set_dotted,
    unknown_key,
)

DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ModelConfig:
    """``path``: what :func:`qtn.hf.from_pretrained` accepts (HF folder, ``.gguf`` file, hub
    id), or ``default``: the offline SmolLM2-135M-Instruct.

    Precision policy: ``dtype`` is the compute dtype of the frozen model's matmuls;
    ``param_dtype`` the storage dtype of its pretrained weights (default: ``dtype``), loaded
    tensor by tensor straight into it (``bfloat16`` halves the base model's memory; with
    ``dtype: float32`` each weight is widened inside the step, one layer at a time). Adapter
    parameters and optimizer state are float32 whatever these are; norms, softmax and the
    loss are computed in float32."""

    path: str = "default"
    dtype: str = "float32"
    param_dtype: str | None = None

    def check(self) -> list[str]:
        e = []
        for name in ("dtype", "param_dtype"):
            value = getattr(self, name)
            if value is not None and value not in DTYPES:
                e.append(f"model.{name} must be one of {DTYPES}, got {value!r}")
        return e

    @property
    def storage_dtype(self) -> str:
        """``param_dtype``, or ``dtype`` when unset."""
        return self.param_dtype or self.dtype


@dataclass(frozen=True)
class EvalConfig:
    """Final evaluation: loss / perplexity on ``split`` and the task metric (accuracy by label
    log-likelihood, perplexity, or exact match by greedy generation of ``max_new_tokens``, in
    batches of ``generate_batch_size`` prompts: decoding reads every weight once per token
    step, so large batches amortise it)."""

    split: str = "test"
    metric: bool = True
    max_new_tokens: int = 48
    generate_batch_size: int = 64

    def check(self) -> list[str]:
        e = []
        if self.split not in ("train", "val", "test"):
            e.append(f"eval.split must be train/val/test, got {self.split!r}")
        if self.max_new_tokens < 1:
            e.append(f"eval.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.generate_batch_size < 1:
            e.append(f"eval.generate_batch_size must be >= 1, got {self.generate_batch_size}")
        return e


SECTIONS: Mapping[str, type] = types.MappingProxyType(
    {
        "model": ModelConfig,
        "train": TrainConfig,
        "eval": EvalConfig,
        "quantum": QuantumConfig,
        "parallel": ParallelConfig,
    }
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
    quantum: QuantumConfig = field(default_factory=QuantumConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)

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

    def data_config(self) -> DataConfig:
        """The parsed ``qtn.data.DataConfig``."""
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
            "quantum": dataclasses.asdict(self.quantum),
            "parallel": dataclasses.asdict(self.parallel),
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
                errors.append(unknown_key("", key, top))
        kw: dict[str, Any] = {}
        for name in ("name", "seed", "out_dir"):
            if name in d:
                errs = check_type(name, d[name], typing.get_type_hints(cls)[name])
                errors += errs
                if not errs:
                    kw[name] = d[name]
        for name, section_cls in SECTIONS.items():
            if name in d:
                section, errs = build_section(name, section_cls, d[name])
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
        errors += config.quantum.check()
        errors += config.parallel.check()
        try:
            _ = config.adapter_spec
        except (ValueError, TypeError) as err:
            errors.append(f"adapter: {err}")
        try:
            dc = config.data_config()
            if dc.batch_size < 1 or dc.max_len < 2:
                errors.append("data.batch_size must be >= 1 and data.max_len >= 2")
            if dc.pack_len is not None and dc.pack_len < dc.max_len:
                errors.append(f"data.pack_len ({dc.pack_len}) must be >= max_len ({dc.max_len})")
            errors += dc.check()
            errors += [f"data: {p}" for p in check_task(dc.task, dc.task_options)]
        except (ValueError, TypeError, KeyError) as err:
            errors.append(f"data: {err}")
        if errors:
            raise ConfigError(error_report(errors))
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
