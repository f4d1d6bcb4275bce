"""``qtn train``: fine-tune a model with an adapter from a YAML run config.

Before loading anything the run's memory plan is checked against ``--max-memory`` (default:
this machine's RAM; ``--max-memory off`` skips it) and refused with the breakdown when it
does not fit (exit 2). SIGTERM / SIGINT: the current step finishes, a checkpoint is written
and the command exits with code 75 (:data:`qtn.train.preemption.PREEMPTED_EXIT_CODE`), saying
how to resume. A diverging loss exits with 3. Several processes: see
:mod:`qtn.train.distributed` (run the same command in each, with the environment set).
"""

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
    parser.add_argument(
        "--max-memory",
        default=None,
        metavar="SIZE",
        help="refuse the run when its memory plan exceeds SIZE (e.g. 12GiB; default: this "
        "machine's RAM; 'off' skips the check; see qtn plan-memory)",
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
    from qtn.train.memory import parse_size
    from qtn.train.metrics import results_table
    from qtn.train.preemption import PREEMPTED_EXIT_CODE, Preempted

    check = args.max_memory is None or str(args.max_memory).lower() != "off"
    budget = parse_size(args.max_memory) if check and args.max_memory is not None else None
    try:
        results = run_training(
            config, resume=args.resume, max_memory=budget, check_memory=check
        )
    except NonFiniteLossError as err:
        print(f"qtn train: error: {err}", file=sys.stderr)
        return 3
    except Preempted as err:
        again = ["qtn train", "--config", args.config, "--out", str(config.output_dir)]
        again += [f"--set {o}" for o in args.overrides] + ["--resume"]
        print(
            f"qtn train: {err}. Resume with:\n  {' '.join(again)}",
            file=sys.stderr,
        )
        return PREEMPTED_EXIT_CODE
    print(results_table([results]))
    if results.get("compile_s") is not None:
        print(
            f"time: compile {results['compile_s']:.1f} s (all programs, before the first step), "
            f"train {results['train_s']:.1f} s, eval {results['eval_s']:.1f} s, "
            f"wall {results['wall_time_s']:.1f} s"
        )
    baseline = results.get("majority_baseline")
    if baseline is not None:
        print(f"majority-class baseline on {results['eval_split']}: {baseline:.4f}")
    if report := format_samples(results.get("samples") or []):
        print(report)
    print(f"outputs: {config.output_dir}")
    return 0
