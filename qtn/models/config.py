"""Llama-family decoder configuration, parsed from a checkpoint's ``config.json`` dict."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# model_type -> defaults that differ between families (everything else is read from the dict).
SUPPORTED_MODEL_TYPES: dict[str, dict[str, Any]] = {
    "llama": {},
    "mistral": {},
    "qwen2": {"qkv_bias": True},
    "qwen3": {"qk_norm": True},
}
_ARCHITECTURE_TO_TYPE = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
}


class UnsupportedArchitectureError(ValueError):
    """The checkpoint's ``model_type`` / ``architectures`` is not a Llama-family decoder."""


@dataclass(frozen=True)
class LlamaConfig:
    """Hyper-parameters of a Llama-family decoder (Llama 2/3, Mistral, Qwen2/3, SmolLM2).

    Field names follow transformers' ``config.json``; ``qkv_bias`` / ``o_bias`` / ``mlp_bias``
    and ``qk_norm`` are the family switches derived from ``model_type`` and ``attention_bias``.
    """

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    model_type: str = "llama"
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: tuple[tuple[str, Any], ...] | None = None
    max_position_embeddings: int = 2048
    tie_word_embeddings: bool = False
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False
    sliding_window: int | None = None
    hidden_act: str = "silu"
    bos_token_id: int | None = None
    eos_token_id: tuple[int, ...] = field(default_factory=tuple)
    pad_token_id: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LlamaConfig:
        """Parse a transformers ``config.json`` dict (unknown keys are ignored).

        Raises:
            UnsupportedArchitectureError: not a Llama-family model, or an unsupported option.
        """
        model_type = d.get("model_type")
        if model_type is None:
            archs = d.get("architectures") or []
            known = [_ARCHITECTURE_TO_TYPE[a] for a in archs if a in _ARCHITECTURE_TO_TYPE]
            model_type = known[0] if known else None
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise UnsupportedArchitectureError(
                f"unsupported architecture: model_type={d.get('model_type')!r}, "
                f"architectures={d.get('architectures')!r}; qtn supports "
                f"{sorted(SUPPORTED_MODEL_TYPES)}"
            )
        act = d.get("hidden_act", "silu")
        if act != "silu":
            raise UnsupportedArchitectureError(f"unsupported hidden_act {act!r} (only 'silu')")
        family = SUPPORTED_MODEL_TYPES[model_type]
        heads = int(d["num_attention_heads"])
        hidden = int(d["hidden_size"])
        attention_bias = bool(d.get("attention_bias", False))
        window = d.get("sliding_window")
        if model_type in ("qwen2", "qwen3") and not d.get("use_sliding_window", False):
            window = None
        eos = d.get("eos_token_id")
        eos_ids = tuple(eos) if isinstance(eos, list | tuple) else (() if eos is None else (eos,))
        scaling = d.get("rope_scaling") or d.get("rope_parameters")
        scaling = _normalise_rope_scaling(scaling)
        head_dim = d.get("head_dim") or hidden // heads
        return cls(
            vocab_size=int(d["vocab_size"]),
            hidden_size=hidden,
            intermediate_size=int(d["intermediate_size"]),
            num_hidden_layers=int(d["num_hidden_layers"]),
            num_attention_heads=heads,
            num_key_value_heads=int(d.get("num_key_value_heads") or heads),
            head_dim=int(head_dim),
            model_type=model_type,
            rms_norm_eps=float(d.get("rms_norm_eps", 1e-6)),
            rope_theta=float(_rope_theta(d)),
            rope_scaling=scaling,
            max_position_embeddings=int(d.get("max_position_embeddings", 2048)),
            tie_word_embeddings=bool(d.get("tie_word_embeddings", False)),
            qkv_bias=family.get("qkv_bias", attention_bias),
            o_bias=attention_bias if model_type in ("llama", "mistral", "qwen3") else False,
            mlp_bias=bool(d.get("mlp_bias", False)),
            qk_norm=family.get("qk_norm", False),
            sliding_window=int(window) if window else None,
            hidden_act=act,
            bos_token_id=d.get("bos_token_id"),
            eos_token_id=tuple(int(e) for e in eos_ids),
            pad_token_id=d.get("pad_token_id"),
        )

    def to_dict(self) -> dict[str, Any]:
        """A transformers-compatible ``config.json`` dict (round-trips through ``from_dict``)."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["architectures"] = [
            {v: k for k, v in _ARCHITECTURE_TO_TYPE.items()}[self.model_type]
        ]
        out["rope_scaling"] = dict(self.rope_scaling) if self.rope_scaling else None
        eos = list(self.eos_token_id)
        out["eos_token_id"] = eos[0] if len(eos) == 1 else (eos or None)
        out["attention_bias"] = self.qkv_bias
        for k in ("qkv_bias", "o_bias", "qk_norm"):
            out.pop(k)
        return out

    @property
    def rope_scaling_dict(self) -> dict[str, Any]:
        return dict(self.rope_scaling or ())


def _rope_theta(d: Mapping[str, Any]) -> float:
    params = d.get("rope_parameters")
    if isinstance(params, Mapping) and "rope_theta" in params:
        return params["rope_theta"]
    return d.get("rope_theta", 10000.0)


def _normalise_rope_scaling(scaling: Any) -> tuple[tuple[str, Any], ...] | None:
    """Keep the rope-scaling dict hashable; ``default`` (plain RoPE) becomes None."""
    if not scaling:
        return None
    scaling = dict(scaling)
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    scaling.pop("rope_theta", None)
    if kind == "default":
        return None
    if kind not in ("llama3", "linear"):
        raise UnsupportedArchitectureError(
            f"unsupported rope_scaling type {kind!r} (supported: llama3, linear)"
        )
    scaling["rope_type"] = kind
    scaling.pop("type", None)
    return tuple(sorted(scaling.items()))


def rope_inv_freq(cfg: LlamaConfig) -> tuple[float, ...]:
    """Inverse frequencies (head_dim // 2,) of RoPE, with llama3 / linear scaling applied.

    Computed in Python float64 so the values are fixed at trace time (no device state).
    """
    dim = cfg.head_dim
    inv = [1.0 / (cfg.rope_theta ** (2 * i / dim)) for i in range(dim // 2)]
    s = cfg.rope_scaling_dict
    if s.get("rope_type") == "linear":
        return tuple(f / float(s["factor"]) for f in inv)
    if s.get("rope_type") == "llama3":
        factor = float(s["factor"])
        low, high = float(s.get("low_freq_factor", 1.0)), float(s.get("high_freq_factor", 4.0))
        old = float(s.get("original_max_position_embeddings", 8192))
        low_wavelen, high_wavelen = old / low, old / high
        out = []
        for f in inv:
            wavelen = 2 * math.pi / f
            if wavelen < high_wavelen:
                out.append(f)
            elif wavelen > low_wavelen:
                out.append(f / factor)
            else:
                smooth = (old / wavelen - low) / (high - low)
                out.append((1 - smooth) * f / factor + smooth * f)
        return tuple(out)
    return tuple(inv)
