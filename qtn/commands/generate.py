"""``qtn generate``: continue a prompt with a (possibly adapted) model."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", action="append", required=True,
                        help="prompt text (repeat for a batch)")
    parser.add_argument("--model", default=None,
                        help="local HF folder, .gguf file or hub id (default: offline SmolLM2)")
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chat", action="store_true", help="wrap the prompt in the chat template")
    parser.add_argument("--adapter", default=None, help="saved adapter folder to apply")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--cache-dir", default=None)


def run(args: argparse.Namespace) -> int:
    import jax.numpy as jnp

    from qtn.hf import default_model_path, from_pretrained
    from qtn.models.generate import generate_text

    path = args.model or default_model_path(args.cache_dir)
    model, tokenizer = from_pretrained(path, dtype=jnp.dtype(args.dtype), cache_dir=args.cache_dir)
    if args.adapter:
        try:
            from qtn.adapters import load_adapter
        except ImportError as err:
            raise ValueError(
                f"--adapter needs qtn.adapters.load_adapter, not available in this build ({err})"
            ) from err
        load_adapter(model, args.adapter)
    if args.chat and not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"--chat: the tokenizer of {path} has no chat template")
    texts = generate_text(
        model, tokenizer, args.prompt, chat=args.chat, max_new_tokens=args.max_new_tokens,
        temperature=args.temperature, top_p=args.top_p, seed=args.seed,
    )
    for prompt, text in zip(args.prompt, texts, strict=True):
        print(text if args.chat else prompt + text)
    return 0
