"""``qtn plan-memory --config RUN.yaml [--devices N] [--max-memory SIZE]``: the memory a run
config needs, per device and per process, estimated from shapes only (no weights are read):
base parameters, adapter parameters, gradients, optimizer state, activations, logits and the
process runtime (see :mod:`qtn.train.memory`). Exit code 1 when the estimate exceeds
``--max-memory`` (default: this machine's RAM, or the device memory on an accelerator) — the
same check ``qtn train`` does before loading anything."""

from __future__ import annotations

import argparse
import json
import sys

from qtn.commands._options import add_set_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="run config YAML")
    add_set_option(parser, "data.batch_size=4 train.remat=layer")
    parser.add_argument(
        "--devices",
        type=int,
        default=None,
        help="plan for N devices (default: the config's parallel mesh; a config without a mesh "
        "gets parallel.fsdp=N)",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="processes (hosts) sharing the devices"
    )
    parser.add_argument(
        "--max-memory",
        default=None,
        metavar="SIZE",
        help="budget per process (e.g. 12GiB, 24G, 1.5e9; default: this machine's RAM)",
    )
    parser.add_argument(
        "--platform",
        choices=("cpu", "gpu", "tpu"),
        default=None,
        help="plan for this JAX backend (default: this machine's; on cpu, 16-bit matmuls run "
        "in float32, which widens the weights)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from qtn.experiment.config import load_config
    from qtn.experiment.memory import default_budget, plan_run_memory
    from qtn.train.memory import MemoryBudgetError, gib, parse_size

    if args.devices is not None and args.devices < 1:
        raise ValueError(f"--devices must be >= 1, got {args.devices}")
    if args.processes < 1:
        raise ValueError(f"--processes must be >= 1, got {args.processes}")
    config = load_config(args.config, args.overrides)
    plan = plan_run_memory(
        config, devices=args.devices, processes=args.processes, platform=args.platform
    )
    if args.max_memory is not None:
        budget, per = parse_size(args.max_memory), "process"
    else:
        budget, per = default_budget()
    fits = True
    try:
        plan.check(budget, per=per)
    except MemoryBudgetError as err:
        fits = False
        message = str(err).split("\n\n")[0]
    if args.json:
        print(json.dumps({**plan.to_dict(), "budget": budget, "budget_per": per, "fits": fits}))
    else:
        print(plan.to_markdown())
        verdict = "fits" if fits else "does NOT fit"
        print(f"budget {gib(budget):.2f} GiB per {per}: {verdict}")
    if not fits:
        print(f"qtn plan-memory: {message}", file=sys.stderr)
        return 1
    return 0
