"""``qtn export``: fold a saved adapter into dense weights (HF safetensors folder), or write a
LoRA adapter in the HF PEFT layout."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

COPIED = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", required=True, help="saved qtn adapter folder")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--format",
        choices=("merged", "peft"),
        default="merged",
        help="merged: base + adapter folded into model.safetensors (HF layout); "
        "peft: LoRA as adapter_model.safetensors + adapter_config.json",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="base model (HF folder, .gguf, or 'default'); default: the one recorded in the "
        "adapter's config",
    )


def run(args: argparse.Namespace) -> int:
    from qtn.adapters.io import read_adapter_config

    config = read_adapter_config(args.adapter)
    base = args.model or config.get("base_model")
    if not base:
        raise ValueError("the adapter does not record its base model; pass --model")
    paths = export_adapter(args.adapter, args.out, base=base, fmt=args.format)
    print(f"wrote {args.format} export of {args.adapter} (base {base}) to {args.out}:")
    for p in paths:
        print(f"  {p}")
    return 0


def check_exportable(adapter: str, fmt: str) -> None:
    """Refuse, before any model is loaded, an adapter that ``fmt`` cannot hold: ``peft`` takes
    LoRA only; ``merged`` needs a linear update (not the paper's QTHA with its QNN)."""
    from qtn.adapters import AdapterSpec
    from qtn.adapters.io import read_adapter_config

    config = read_adapter_config(adapter)
    spec = AdapterSpec.from_dict(config["adapter"])
    if fmt == "peft" and spec.method != "lora":
        raise ValueError(
            f"{adapter}: PEFT export supports LoRA only; this adapter is {spec.method!r} "
            "(use --format merged for a linear adapter)"
        )
    if fmt == "merged":
        for path in config.get("modules", {}):
            reason = getattr(spec.config_for(path), "merge_error", lambda: None)()
            if reason is not None:
                raise ValueError(f"{adapter}: cannot merge module {path}: {reason}")


def export_adapter(adapter: str, out: str, *, base: str, fmt: str) -> list[Path]:
    """Load ``base`` + ``adapter`` and write the export; returns the files written."""
    from qtn.adapters import export_peft, load_adapter, merge
    from qtn.experiment.run import resolve_model_path
    from qtn.hf import from_pretrained

    check_exportable(adapter, fmt)
    folder = resolve_model_path(base)
    model, _ = from_pretrained(folder, with_tokenizer=False)
    load_adapter(model, adapter)
    out_dir = Path(out)
    if fmt == "peft":
        export_peft(model, out_dir, base_model_name_or_path=str(base))
    else:
        from safetensors.numpy import save_file

        from qtn.adapters.io import atomic_directory
        from qtn.hf import model_tensors

        merge(model)
        with atomic_directory(out_dir) as tmp:
            save_file(model_tensors(model), str(tmp / "model.safetensors"), {"format": "pt"})
            for name in COPIED:
                if (folder / name).is_file():
                    shutil.copy2(folder / name, tmp / name)
    return sorted(out_dir.iterdir())
