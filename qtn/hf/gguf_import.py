"""GGUF (llama.cpp) -> HF layout: dequantized tensors, config dict, fast tokenizer. No torch.

llama.cpp stores the q/k projections of ``llama``-architecture models with the rows of each
head reordered (its converter applies ``permute``); :func:`unpermute_qk` undoes it. Qwen2/3
GGUFs are stored unpermuted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from qtn.hf.safetensors_io import CheckpointError

_PERMUTED_ARCHS = ("llama", "mistral")
_ARCH_TO_MODEL_TYPE = {"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3"}

# (GGUF tensor name regex, HF key template)
GGUF_KEY_MAP: tuple[tuple[str, str], ...] = (
    (r"token_embd\.weight", "model.embed_tokens.weight"),
    (r"output_norm\.weight", "model.norm.weight"),
    (r"output\.weight", "lm_head.weight"),
    (r"blk\.(\d+)\.attn_norm\.weight", r"model.layers.\1.input_layernorm.weight"),
    (r"blk\.(\d+)\.ffn_norm\.weight", r"model.layers.\1.post_attention_layernorm.weight"),
    (r"blk\.(\d+)\.attn_([qkv])\.(weight|bias)", r"model.layers.\1.self_attn.\2_proj.\3"),
    (r"blk\.(\d+)\.attn_output\.(weight|bias)", r"model.layers.\1.self_attn.o_proj.\2"),
    (r"blk\.(\d+)\.attn_([qk])_norm\.weight", r"model.layers.\1.self_attn.\2_norm.weight"),
    (r"blk\.(\d+)\.ffn_(gate|up|down)\.(weight|bias)", r"model.layers.\1.mlp.\2_proj.\3"),
)


def unpermute_qk(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's q/k row permutation. w: (out, in) -> (out, in) (HF row order).

    Also works for a bias (out,): rows are reordered the same way.
    """
    out = w.shape[0]
    rest = w.shape[1:]
    return w.reshape(n_heads, out // n_heads // 2, 2, *rest).swapaxes(1, 2).reshape(w.shape)


def _field(reader: Any, key: str, default: Any = None) -> Any:
    f = reader.fields.get(key)
    if f is None:
        return default
    value = f.contents()
    return value


def gguf_config(reader: Any) -> dict[str, Any]:
    """A transformers-style ``config.json`` dict from GGUF metadata.

    Raises:
        CheckpointError: unknown architecture or unsupported rope scaling.
    """
    arch = _field(reader, "general.architecture")
    name = str(_field(reader, "general.name", "") or "").lower()
    if arch not in _ARCH_TO_MODEL_TYPE:
        raise CheckpointError(
            f"unsupported GGUF architecture {arch!r}; qtn supports {sorted(_ARCH_TO_MODEL_TYPE)}"
        )
    model_type = "mistral" if arch == "llama" and "mistral" in name else _ARCH_TO_MODEL_TYPE[arch]
    names = {t.name for t in reader.tensors}
    if "rope_freqs.weight" in names:
        raise CheckpointError("GGUF with rope_freqs (llama3 rope scaling) is not supported yet")
    a = arch
    heads = int(_field(reader, f"{a}.attention.head_count"))
    hidden = int(_field(reader, f"{a}.embedding_length"))
    tokens = _field(reader, "tokenizer.ggml.tokens")
    vocab = _field(reader, f"{a}.vocab_size") or (len(tokens) if tokens is not None else None)
    eps = float(_field(reader, f"{a}.attention.layer_norm_rms_epsilon", 1e-6))
    cfg: dict[str, Any] = {
        "architectures": [
            {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
             "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}[model_type]
        ],
        "model_type": model_type,
        "vocab_size": int(vocab),
        "hidden_size": hidden,
        "intermediate_size": int(_field(reader, f"{a}.feed_forward_length")),
        "num_hidden_layers": int(_field(reader, f"{a}.block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(_field(reader, f"{a}.attention.head_count_kv", heads)),
        "head_dim": int(_field(reader, f"{a}.attention.key_length", hidden // heads)),
        "rms_norm_eps": float(f"{eps:.7g}"),  # stored as float32: 1e-5 reads 9.9999997e-06
        "rope_theta": float(_field(reader, f"{a}.rope.freq_base", 10000.0)),
        "max_position_embeddings": int(_field(reader, f"{a}.context_length", 2048)),
        "tie_word_embeddings": "output.weight" not in names,
        "attention_bias": any(n.endswith("attn_q.bias") for n in names),
        "hidden_act": "silu",
        "torch_dtype": "float32",
    }
    for key, hf in (("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id"),
                    ("padding_token_id", "pad_token_id")):
        value = _field(reader, f"tokenizer.ggml.{key}")
        if value is not None:
            cfg[hf] = int(value)
    return cfg


def gguf_tensors(reader: Any, config: dict[str, Any]) -> dict[str, np.ndarray]:
    """Dequantized fp32 tensors under HF names (torch layout (out, in)), q/k un-permuted.

    Raises:
        CheckpointError: a tensor name with no HF equivalent.
    """
    from gguf import dequantize

    permuted = config["model_type"] in _PERMUTED_ARCHS
    heads = {"q": config["num_attention_heads"], "k": config["num_key_value_heads"]}
    out: dict[str, np.ndarray] = {}
    unknown = []
    for t in reader.tensors:
        key = None
        for pattern, template in GGUF_KEY_MAP:
            m = re.fullmatch(pattern, t.name)
            if m:
                key = m.expand(template)
                break
        if key is None:
            if t.name != "rope_freqs.weight":
                unknown.append(t.name)
            continue
        arr = np.asarray(dequantize(t.data, t.tensor_type), np.float32)
        shape = tuple(int(d) for d in reversed(t.shape))  # GGUF lists dims innermost first
        arr = arr.reshape(shape)
        m = re.fullmatch(r"model\.layers\.\d+\.self_attn\.([qk])_proj\.(weight|bias)", key)
        if permuted and m:
            arr = unpermute_qk(arr, heads[m.group(1)])
        out[key] = np.ascontiguousarray(arr)
    if unknown:
        raise CheckpointError(f"GGUF tensors with no HF equivalent: {unknown}")
    return out


def gguf_tokenizer(path: Path) -> Any:
    """A ``PreTrainedTokenizerFast`` rebuilt from the GGUF vocabulary (transformers' converter),
    carrying the chat template and special tokens from the metadata."""
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.gguf import convert_gguf_tokenizer, get_gguf_tokenizer

    architecture, tokenizer_dict, tokenizer_config = get_gguf_tokenizer(str(path))
    fast, extra = convert_gguf_tokenizer(architecture, tokenizer_dict)
    kwargs = {**tokenizer_config, **extra}
    return PreTrainedTokenizerFast(tokenizer_object=fast, **kwargs)


def read_gguf_config(path: Path) -> dict[str, Any]:
    """The ``config.json`` dict of a GGUF file from its metadata alone (no tensor is read)."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except (ValueError, OSError) as err:
        raise CheckpointError(f"cannot read GGUF file {path}: {err}") from err
    try:
        return gguf_config(reader)
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from err


def read_gguf(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(config dict, HF-named fp32 tensors)`` of a GGUF file.

    Raises:
        CheckpointError: unreadable file, unknown architecture or tensor (naming the file).
    """
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except (ValueError, OSError) as err:
        raise CheckpointError(f"cannot read GGUF file {path}: {err}") from err
    try:
        config = gguf_config(reader)
        return config, gguf_tensors(reader, config)
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from err


def convert_gguf(path: Path, out_dir: Path) -> Path:
    """Write an HF-layout folder (config.json, tokenizer.json + tokenizer_config.json,
    model.safetensors) for the GGUF file ``path`` into ``out_dir``; returns ``out_dir``.

    The folder is written under a unique temporary name and renamed, so a half-written
    conversion is never reused and concurrent conversions (test workers) do not collide: the
    first rename wins, later ones are discarded.
    """
    import json
    import os
    import shutil
    import uuid

    from qtn.hf.safetensors_io import save_tensors

    config, tensors = read_gguf(path)
    tmp = out_dir.with_name(f"{out_dir.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        tokenizer = gguf_tokenizer(path)
        tokenizer.model_max_length = int(config["max_position_embeddings"])
        tokenizer.save_pretrained(str(tmp))
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        save_tensors(tensors, tmp / "model.safetensors", {"format": "pt", "source": path.name})
        if out_dir.exists() and not (out_dir / "model.safetensors").is_file():
            shutil.rmtree(out_dir, ignore_errors=True)  # a stale, incomplete folder
        try:
            tmp.rename(out_dir)
        except OSError:
            if not (out_dir / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
