"""``qtn train``: fine-tune a model with an adapter from a YAML run config."""

from __future__ import annotations

import argparse
import json
import sys

from qtn.commands._options import add_set_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="run config YAML (experiments/<name>/...)")
    add_set_option(parser, "train.lr=3e-4 train.steps=50")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in the output folder (fresh start if none)",
    )
    parser.add_argument("--out", default=None, help="output folder (default: runs/<name>)")
    parser.add_argument(
        "--check", action="store_true", help="only validate the config, print it and exit"
    )


def run(args: argparse.Namespace) -> int:
    from qtn.experiment.config import load_config

    updates = {"out_dir": args.out} if args.out else {}
    config = load_config(args.config, args.overrides, **updates)  # validated before loading
    if args.check:
        print(json.dumps(config.to_dict(), indent=2))
        return 0

    from qtn.experiment.run import run_training
    from qtn.experiment.samples import format_samples
    from qtn.train.loop import NonFiniteLossError
    from qtn.train.metrics import results_table

    try:
        results = run_training(config, resume=args.resume)
    except NonFiniteLossError as err:
        print(f"qtn train: error: {err}", file=sys.stderr)
        return 3
    print(results_table([results]))
    baseline = results.get("majority_baseline")
    if baseline is not None:
        print(f"majority-class baseline on {results['eval_split']}: {baseline:.4f}")
    if report := format_samples(results.get("samples") or []):
        print(report)
    print(f"outputs: {config.output_dir}")
    return 0
