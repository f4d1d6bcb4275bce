"""Test helpers (not a test module): a tiny random Llama checkpoint in HF layout (config.json,
model.safetensors, tokenizer.json) and run configs that train it on a few sentiment reviews.
Used by tests/train (through conftest), tests/experiment (conftest) and tests/commands
(both import it by path)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CORPUS = [
    "Classify the sentiment of this movie review as positive or negative. Reply with one word.",
    "Review: a moving, funny and beautifully made film. Answer: positive",
    "Review: a dull, lifeless mess of a movie. Answer: negative",
    "the a of and to in is it that this film movie story good bad great worst best",
]


def build_tiny_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Random LlamaForCausalLM (2 layers, hidden 32) + a byte-level BPE tokenizer (vocab 320)."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS * 5, trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>"
    )
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    model = transformers.LlamaForCausalLM(cfg).eval()
    model.save_pretrained(str(folder), safe_serialization=True)
    fast.save_pretrained(str(folder))
    return folder


def tiny_run_config(checkpoint: Path, out_dir: Path, **sections) -> dict:
    """A complete run config dict (LoRA on q/v, 6 steps of batch 4 on 24 sentiment reviews)."""
    config = {
        "name": "tiny",
        "seed": 0,
        "out_dir": str(out_dir),
        "model": {"path": str(checkpoint)},
        "data": {
            "task": "sentiment",
            "n_train": 24,
            "n_eval": 8,
            "max_len": 48,
            "batch_size": 4,
            "n_buckets": 2,
        },
        "adapter": {"method": "lora", "target_modules": ["q_proj", "v_proj"], "r": 2, "alpha": 4.0},
        # no persistent compile cache: tests leave the user's cache folder and JAX state alone
        "train": {
            "steps": 6, "lr": 1e-2, "warmup_steps": 1, "progress": False,
            "compile_cache_dir": None,
        },
        "eval": {"split": "val"},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config
