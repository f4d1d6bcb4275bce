"""Export a LoRA adapter in the HF PEFT layout (``adapter_model.safetensors`` +
``adapter_config.json``) so ``peft.PeftModel.from_pretrained`` loads it on the transformers
model of the same checkpoint.

Names: qtn path ``layers.0.self_attn.q_proj`` is HF module ``model.layers.0.self_attn.q_proj``
(``lm_head`` stays ``lm_head``); tensors are ``base_model.model.<module>.lora_A.weight`` =
``A.T`` (r, in) and ``...lora_B.weight`` = ``B.T`` (out, r). PEFT's scaling ``lora_alpha / r``
equals qtn's ``alpha / r``; per-module ranks / alphas go to ``rank_pattern`` /
``alpha_pattern`` keyed by full module names.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
from flax import nnx
from safetensors.numpy import save_file

from qtn.adapters.inject import adapter_layers
from qtn.adapters.io import atomic_directory
from qtn.nn.lora import LoRALinear

PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_CONFIG = "adapter_config.json"


def hf_module_name(path: str) -> str:
    """qtn module path -> transformers module name for the Llama family."""
    return path if path.startswith("lm_head") else f"model.{path}"


def export_peft(
    model: nnx.Module,
    directory: str | os.PathLike,
    *,
    base_model_name_or_path: str | None = None,
) -> Path:
    """Write the model's LoRA layers as a PEFT LoRA adapter into ``directory`` (atomically).

    Raises ValueError if the model holds no adapter or any non-LoRA adapter layer (only LoRA
    has a PEFT counterpart; merge other methods with ``qtn export --merge``).
    """
    layers = adapter_layers(model)
    if not layers:
        raise ValueError("the model has no adapter layers to export")
    other = sorted({type(m).__name__ for _, m in layers if not isinstance(m, LoRALinear)})
    if other:
        raise ValueError(f"PEFT export supports LoRA only; the model has {other} layers")
    tensors: dict[str, np.ndarray] = {}
    ranks: dict[str, int] = {}
    alphas: dict[str, float] = {}
    dropouts = set()
    for path, layer in layers:
        name = hf_module_name(path)
        a = np.asarray(layer.lora_a[...], dtype=np.float32)
        b = np.asarray(layer.lora_b[...], dtype=np.float32)
        tensors[f"base_model.model.{name}.lora_A.weight"] = np.ascontiguousarray(a.T)
        tensors[f"base_model.model.{name}.lora_B.weight"] = np.ascontiguousarray(b.T)
        ranks[name], alphas[name] = layer.r, layer.alpha
        dropouts.add(layer.dropout.rate if layer.dropout is not None else 0.0)
    r = Counter(ranks.values()).most_common(1)[0][0]
    alpha = Counter(alphas.values()).most_common(1)[0][0]
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model_name_or_path,
        "r": r,
        "lora_alpha": alpha,
        "lora_dropout": max(dropouts),
        "target_modules": sorted(ranks),
        "rank_pattern": {k: v for k, v in ranks.items() if v != r},
        "alpha_pattern": {k: v for k, v in alphas.items() if v != alpha},
        "bias": "none",
        "fan_in_fan_out": False,
        "use_rslora": False,
        "use_dora": False,
        "init_lora_weights": True,
        "inference_mode": True,
        "modules_to_save": None,
    }
    with atomic_directory(directory) as tmp:
        save_file(tensors, str(tmp / PEFT_WEIGHTS), metadata={"format": "pt"})
        (tmp / PEFT_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return Path(directory)
