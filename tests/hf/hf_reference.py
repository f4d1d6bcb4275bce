"""Reference helpers for the parity tests: tiny random transformers (PyTorch) checkpoints
written to tmp dirs, and torch-side logits. Imported by tests/hf/conftest.py (``ref`` fixture)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY = dict(
    vocab_size=96,
    hidden_size=64,
    intermediate_size=112,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    rms_norm_eps=1e-5,
)

# name -> (transformers config class name, extra config kwargs)
FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "llama": ("LlamaConfig", {"rope_theta": 10000.0, "tie_word_embeddings": False}),
    "llama3_scaled": ("LlamaConfig", {
        "rope_theta": 500000.0, "tie_word_embeddings": False,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
    }),
    "qwen2_bias": ("Qwen2Config", {"rope_theta": 1000000.0, "tie_word_embeddings": False}),
    "tied": ("LlamaConfig", {"tie_word_embeddings": True}),
    "qwen3_qknorm": ("Qwen3Config", {"head_dim": 32, "tie_word_embeddings": True}),
    "mistral": ("MistralConfig", {"sliding_window": None, "tie_word_embeddings": False}),
}


def torch_model(family: str, seed: int = 0):
    """A random transformers model of ``family`` (eval mode, fp32, eager attention)."""
    import torch
    import transformers

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    cls_name, extra = FAMILIES[family]
    cfg = getattr(transformers, cls_name)(**TINY, **extra, attn_implementation="eager")
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():  # non-trivial norms / biases so their mapping is tested
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(0.1 * torch.randn_like(p))
            if name.endswith(".bias"):
                p.normal_(0.0, 0.1)
    return model


def save_checkpoint(model, folder: Path, **kwargs: Any) -> Path:
    """``save_pretrained`` as safetensors into ``folder``."""
    model.save_pretrained(str(folder), safe_serialization=True, **kwargs)
    return folder


def torch_logits(model, ids, mask=None, position_ids=None):
    import numpy as np
    import torch

    with torch.no_grad():
        out = model(
            input_ids=torch.as_tensor(np.asarray(ids), dtype=torch.long),
            attention_mask=None if mask is None else torch.as_tensor(np.asarray(mask)),
            position_ids=None if position_ids is None else torch.as_tensor(
                np.asarray(position_ids), dtype=torch.long),
        )
    return out.logits.float().numpy()
