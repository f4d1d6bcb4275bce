"""HF checkpoint key -> qtn NNX state path, with the transform each tensor needs.

One regex table for the whole Llama family (Llama, Mistral, Qwen2/3, SmolLM2). torch ``Linear``
weights are (out, in); qtn ``Linear`` kernels are (in, out): the transform is a transpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

Transform = Callable[[np.ndarray], np.ndarray]


def identity(x: np.ndarray) -> np.ndarray:
    return x


def transpose(x: np.ndarray) -> np.ndarray:
    """torch Linear weight (out, in) -> qtn kernel (in, out)."""
    return np.ascontiguousarray(x.T)


# (HF key regex, qtn path template, transform); ``\1``-style groups are substituted.
LLAMA_KEY_MAP: tuple[tuple[str, str, Transform], ...] = (
    (r"model\.embed_tokens\.weight", "embed_tokens.embedding", identity),
    (r"model\.layers\.(\d+)\.self_attn\.([qkvo])_proj\.weight",
     r"layers.\1.self_attn.\2_proj.kernel", transpose),
    (r"model\.layers\.(\d+)\.self_attn\.([qkvo])_proj\.bias",
     r"layers.\1.self_attn.\2_proj.bias", identity),
    (r"model\.layers\.(\d+)\.self_attn\.([qk])_norm\.weight",
     r"layers.\1.self_attn.\2_norm.weight", identity),
    (r"model\.layers\.(\d+)\.mlp\.(gate|up|down)_proj\.weight",
     r"layers.\1.mlp.\2_proj.kernel", transpose),
    (r"model\.layers\.(\d+)\.mlp\.(gate|up|down)_proj\.bias",
     r"layers.\1.mlp.\2_proj.bias", identity),
    (r"model\.layers\.(\d+)\.(input_layernorm|post_attention_layernorm)\.weight",
     r"layers.\1.\2.weight", identity),
    (r"model\.norm\.weight", "norm.weight", identity),
    (r"lm_head\.weight", "lm_head.kernel", transpose),
)

# Keys that carry no parameters of ours (buffers some exporters save).
IGNORED_KEYS: tuple[str, ...] = (r".*rotary_emb\.inv_freq",)


def map_key(
    key: str, key_map: tuple[tuple[str, str, Transform], ...] = LLAMA_KEY_MAP
) -> tuple[str, Transform] | None:
    """The qtn dotted path and transform for HF ``key``; None when no rule matches."""
    for pattern, template, fn in key_map:
        m = re.fullmatch(pattern, key)
        if m:
            return m.expand(template), fn
    return None


def is_ignored(key: str, *, tied: bool) -> bool:
    """Keys skipped silently: rotary buffers, and ``lm_head.weight`` when embeddings are tied."""
    if tied and key == "lm_head.weight":
        return True
    return any(re.fullmatch(p, key) for p in IGNORED_KEYS)


def path_to_str(path: tuple[Any, ...]) -> str:
    """NNX state path tuple -> dotted string (``('layers', 0, 'mlp')`` -> ``layers.0.mlp``)."""
    return ".".join(str(p) for p in path)
