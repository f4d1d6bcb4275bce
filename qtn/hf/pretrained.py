"""``from_pretrained``: local HF folder, ``.gguf`` file, or hub id -> (qtn model, tokenizer)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax.numpy as jnp

from qtn.hf.safetensors_io import CheckpointError, iter_tensors, safetensors_files
from qtn.hf.weights import load_llama
from qtn.models.config import LlamaConfig
from qtn.models.llama import LlamaForCausalLM

_HUB_PATTERNS = ["*.json", "*.safetensors", "tokenizer.model", "*.txt", "*.jinja"]


def load_config(folder: str | Path) -> LlamaConfig:
    """Parse ``folder/config.json``.

    Raises:
        CheckpointError: no config.json / invalid JSON.
        UnsupportedArchitectureError: (a ValueError) for a non-Llama-family model (the message
            names the file).
    """
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise CheckpointError(f"{path}: invalid JSON ({err})") from err
    try:
        return LlamaConfig.from_dict(data)
    except ValueError as err:
        raise type(err)(f"{path}: {err}") from err


def load_tokenizer(folder: str | Path) -> Any:
    """The fast tokenizer of a local folder (``tokenizer.json``; chat template included when
    ``tokenizer_config.json`` / ``chat_template.jinja`` has one). Never runs remote code."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        str(folder), trust_remote_code=False, local_files_only=True
    )


def tiny_random_loader(folder: str | Path, num_hidden_layers: int = 1):
    """A ``model_loader`` for :func:`qtn.experiment.run_training`: the folder's tokenizer and a
    randomly initialised Llama of its architecture shrunk to hidden size 64 (4 heads of 16, 2
    KV heads, MLP 128) and ``num_hidden_layers`` layers, seeded by the run's ``seed``. For the
    notebooks' small (test) size: real code paths at toy cost."""
    from flax import nnx

    tiny = LlamaConfig.from_dict({
        **load_config(folder).to_dict(), "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": num_hidden_layers, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16,
    })
    tokenizer = load_tokenizer(folder)

    def model_loader(config: Any) -> tuple[LlamaForCausalLM, Any]:
        return LlamaForCausalLM(tiny, rngs=nnx.Rngs(config.seed)), tokenizer

    return model_loader


def load_model_folder(
    folder: str | Path,
    *,
    dtype: Any = jnp.float32,
    param_dtype: Any = None,
    shardings: Any = None,
) -> LlamaForCausalLM:
    """The model stored in a local HF folder (config.json + safetensors, sharded or not),
    streamed tensor by tensor into ``param_dtype`` and ``shardings`` (see :func:`load_llama`)."""
    folder = Path(folder)
    cfg = load_config(folder)
    files = safetensors_files(folder)
    return load_llama(
        cfg,
        iter_tensors(files),
        dtype=dtype,
        param_dtype=param_dtype,
        source=str(folder),
        shardings=shardings,
    )


def resolve_checkpoint(path_or_id: str | Path, cache_dir: str | Path | None = None) -> Path:
    """A local HF-layout folder for ``path_or_id``: the folder itself; a ``.gguf`` file converted
    once into ``cache_dir``; or a hub id downloaded (safetensors / json only) when online.

    Raises:
        FileNotFoundError: a local path that does not exist, or a hub id while offline (the
            message says how to use a local folder instead).
    """
    p = Path(path_or_id).expanduser()
    if p.is_dir():
        return p
    if p.is_file() and p.suffix == ".gguf":
        from qtn.hf.assets import converted_gguf_folder

        return converted_gguf_folder(p, cache_dir=cache_dir)
    if p.exists() or str(path_or_id).startswith((".", "/", "~")) or str(p).count("/") != 1:
        raise FileNotFoundError(
            f"{path_or_id!r} is neither a local HF folder, a .gguf file, nor a hub id 'org/name'"
        )
    return _download(str(path_or_id))


def _download(repo_id: str) -> Path:
    hint = (
        f"download it on a connected machine (`hf download {repo_id} --local-dir DIR`) and pass "
        "the local folder instead: from_pretrained('DIR') / `qtn generate --model DIR`"
    )
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise FileNotFoundError(f"hub id {repo_id!r} requested but HF_HUB_OFFLINE is set; {hint}")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=_HUB_PATTERNS))
    except Exception as err:  # noqa: BLE001 - any hub/network failure gets the same advice
        raise FileNotFoundError(
            f"cannot fetch hub id {repo_id!r} ({type(err).__name__}: {err}); offline? {hint}"
        ) from err


def from_pretrained(
    path_or_id: str | Path,
    *,
    dtype: Any = jnp.float32,
    param_dtype: Any = None,
    cache_dir: str | Path | None = None,
    with_tokenizer: bool = True,
    shardings: Any = None,
) -> tuple[LlamaForCausalLM, Any]:
    """Load ``(model, tokenizer)``.

    Args:
        path_or_id: local HF folder, ``.gguf`` file, or hub id (online only).
        dtype: compute dtype (``jnp.float32`` or ``jnp.bfloat16``); ``param_dtype``: storage
            dtype of the weights (default: ``dtype``), e.g. bfloat16 weights with float32 compute.
        cache_dir: where converted GGUF folders live (default:
            :func:`qtn.hf.assets.resolve_cache_dir`).
        with_tokenizer: False returns ``(model, None)``.
        shardings: ``(path, abstract variable) -> Sharding | None`` per parameter, e.g.
            :func:`qtn.nn.sharding.param_sharding_fn` of a mesh.
    """
    folder = resolve_checkpoint(path_or_id, cache_dir)
    model = load_model_folder(
        folder,
        dtype=jnp.dtype(dtype),
        param_dtype=None if param_dtype is None else jnp.dtype(param_dtype),
        shardings=shardings,
    )
    tokenizer = load_tokenizer(folder) if with_tokenizer else None
    return model, tokenizer
