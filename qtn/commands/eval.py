"""``qtn eval``: evaluate a model, or a saved adapter on it, on a run config's task."""

from __future__ import annotations

import argparse
import json

from qtn.commands._options import add_set_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="run config YAML (model, data, eval)")
    parser.add_argument(
        "--adapter", default=None, help="saved adapter folder (adapter_config.json + tensors)"
    )
    add_set_option(parser, "eval.split=val")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--samples",
        type=int,
        default=5,
        metavar="N",
        help="scored samples to print next to the metric (default 5; at most 20 are kept, all "
        "of them in --json)",
    )


def run(args: argparse.Namespace) -> int:
    from qtn.experiment.config import load_config

    config = load_config(args.config, args.overrides)

    from qtn.experiment.run import evaluate_run
    from qtn.experiment.samples import format_samples

    results = evaluate_run(config, adapter=args.adapter)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            if key != "samples":
                print(f"{key:18s} {value}")
        if report := format_samples(results["samples"], args.samples):
            print(report)
    return 0
