"""The ``qtn`` command. Each subcommand lives in ``qtn/commands/<name>.py`` with
``add_arguments(parser)`` and ``run(args) -> int``; heavy imports happen inside ``run``."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, str] = {
    "decompose": "Decompose a matrix into an MPO (TT-SVD) and report bond dims, params, error.",
    "cost": "Plan a hybrid layer's contraction and print its cost report.",
    "plan-memory": "Estimate a run config's memory (params, optimizer, activations, logits).",
    "assets": "Locate, verify and convert the offline default model and data.",
    "generate": "Generate text with a (possibly adapted) model.",
    "train": "Fine-tune a model with an adapter from a YAML config.",
    "eval": "Evaluate a model / saved adapter on a task.",
    "sweep": "Run a grid of training runs and collect results and plots.",
    "export": "Merge an adapter into dense weights and export them.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qtn", description="Quantum-tensor hybrid fine-tuning of language models."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = _command_module(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _command_module(name: str):
    try:
        module = name.replace("-", "_")
        return importlib.import_module(f"qtn.commands.{module}")
    except ModuleNotFoundError as err:
        if err.name == f"qtn.commands.{module}":
            return None  # command not implemented in this build
        raise


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    try:
        return int(args._module.run(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        print(f"qtn {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
