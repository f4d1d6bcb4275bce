"""``qtn export``: fold a saved adapter into dense weights (HF safetensors folder), write a
LoRA adapter in the HF PEFT layout, or (``--circuits DIR``) write every trained circuit as
OpenQASM 2.0 / OriginIR (data-encoded circuits: an OpenQASM 3 template with named inputs, and
concrete files for the inputs of ``--input-from``) with a JSON manifest
(``qtn.quantum.export``)."""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--out", default=None,
                        help="output folder of a merged / peft export (required without "
                        "--circuits)")
    parser.add_argument(
        "--circuits",
        default=None,
        metavar="DIR",
        help="write every trained circuit of the adapter to DIR instead: OpenQASM 2.0 + "
        "OriginIR per circuit (data-encoded circuits: an OpenQASM 3 template with inputs "
        "h0, h1, ...), and manifest.json",
    )
    parser.add_argument(
        "--input-from",
        default=None,
        metavar="JSON",
        help="with --circuits: a JSON file of input vectors for the data-encoded circuits "
        "(e.g. the per-token QNN): a list [[h0, h1, ...], ...] used by every such circuit "
        "with that many inputs, or {module path: [[...], ...]}; each vector gives a concrete "
        "OpenQASM 2.0 / OriginIR file",
    )
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

    if args.circuits is None and args.out is None:
        raise ValueError("pass --out (merged / peft export) or --circuits DIR (circuits)")
    if args.input_from is not None and args.circuits is None:
        raise ValueError("--input-from goes with --circuits")
    config = read_adapter_config(args.adapter)
    base = args.model or config.get("base_model")
    if not base:
        raise ValueError("the adapter does not record its base model; pass --model")
    if args.circuits is not None:
        inputs = None
        if args.input_from is not None:
            inputs = json.loads(Path(args.input_from).read_text())
        manifest = export_circuit_files(args.adapter, args.circuits, base=base, inputs=inputs)
        print(f"wrote {len(manifest['circuits'])} circuit(s) of {args.adapter} to "
              f"{args.circuits}:")
        for record in manifest["circuits"]:
            files: list[str] = []
            for value in record["files"].values():
                files += value if isinstance(value, list) else [value]
            print(f"  {record['module']} {record['label']}: {record['qubits']} qubits, "
                  f"{', '.join(files)}")
        return 0
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


def export_circuit_files(adapter: str, out: str, *, base: str, inputs=None) -> dict:
    """Load ``base`` + ``adapter`` and write its circuits (``qtn.quantum.export``); returns the
    manifest. Raises ValueError when the adapter has no circuits."""
    from qtn.adapters import load_adapter
    from qtn.experiment.run import resolve_model_path
    from qtn.hf import from_pretrained
    from qtn.nn.quantum import circuit_exports
    from qtn.quantum.export import export_circuits

    model, _ = from_pretrained(resolve_model_path(base), with_tokenizer=False)
    load_adapter(model, adapter)
    items = circuit_exports(model)
    if not items:
        raise ValueError(f"{adapter}: the adapter has no measurable circuits to export (a "
                         "unitary-readout or classical adapter)")
    return export_circuits(items, out, inputs)
