"""``qtn cost``: plan a hybrid layer (one MPO core replaced by a circuit), print its costs;
``qtn cost --config RUN.yaml``: the costs of a run config's adapters (shapes only): trainable
params vs LoRA, FLOPs, and the quantum work (circuits per forward / per training step with the
parameter-shift rule) of every method (``lora``, ``mpo``, ``circuit_mpo``, ``qtha``)."""

from __future__ import annotations

import argparse
import json

from qtn.commands._options import add_set_option
from qtn.commands.decompose import parse_dims, parse_shape


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shape", default="512x512", help="d_in x d_out, e.g. 512x512")
    parser.add_argument("--bond", type=int, default=8, help="MPO bond dimension")
    parser.add_argument("--sites", type=int, default=3, help="number of MPO cores")
    parser.add_argument("--in-dims", default=None, help="input factors, e.g. 8,8,8")
    parser.add_argument("--out-dims", default=None, help="output factors, e.g. 8,8,8")
    parser.add_argument("--site", type=int, default=None, help="core to replace (default middle)")
    parser.add_argument("--qubits", type=int, default=None, help="check the circuit's width")
    parser.add_argument("--depth", type=int, default=4, help="circuit layers")
    parser.add_argument("--ansatz", default="hea", choices=("hea", "general"))
    parser.add_argument("--entangler", default="cz", choices=("cz", "cnot"))
    parser.add_argument("--pattern", default="chain", choices=("chain", "brickwork"))
    parser.add_argument(
        "--readout",
        default="unitary",
        choices=("unitary", "probs", "expval"),
        help="unitary: the gates are the core; probs / expval: the core is measured from "
        "U|0> on log2(core size) qubits",
    )
    parser.add_argument("--tokens", type=int, default=1024, help="batch * sequence length")
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--memory-budget", type=int, default=None, help="bytes; error if over")
    parser.add_argument("--cache-dir", default=None, help="cotengra path cache directory")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--config",
        default=None,
        help="run config YAML: per-module and total costs of its adapter vs LoRA, from shapes "
        "only (the layer options above are then ignored)",
    )
    parser.add_argument(
        "--lora-rank",
        type=int,
        default=None,
        help="with --config: the LoRA rank to compare with (default: the adapter's own r for "
        "lora / qtha, else 8)",
    )
    add_set_option(parser, "adapter.bond=4", prefix="with --config: ")
    parser.add_argument(
        "--plot", default=None, metavar="DIR", help="with --config: tree plots of the first layer"
    )


def run(args: argparse.Namespace) -> int:
    if args.config is not None:
        return run_config(args)
    from qtn.contract import get_plan
    from qtn.contract.plan import resolve_auto
    from qtn.tn import CircuitSpec, factorize, hybrid_skeleton

    rows, cols = parse_shape(args.shape)
    if args.sites < 1:
        raise ValueError(f"--sites must be >= 1, got {args.sites}")
    in_dims = factorize(rows, args.sites, parse_dims(args.in_dims))
    out_dims = factorize(cols, args.sites, parse_dims(args.out_dims))
    site = args.sites // 2 if args.site is None else args.site
    spec = CircuitSpec(
        args.depth, args.ansatz, args.entangler, args.pattern, args.readout, qubits=args.qubits
    )
    skel = hybrid_skeleton(in_dims, out_dims, args.bond, {site: spec})
    strategy = resolve_auto(skel, args.tokens) if args.strategy == "auto" else args.strategy
    plan = get_plan(skel, args.tokens, args.dtype, args.cache_dir, strategy, args.memory_budget)
    report = plan.cost
    if args.json:
        extra = {
            "in_dims": list(in_dims),
            "out_dims": list(out_dims),
            "bond_dims": list(skel.bond_dims),
            "site": site,
            "qubits": skel.n_qubits(site),
            "depth": args.depth,
            "readout": args.readout,
        }
        print(json.dumps({**report.to_dict(), **extra}))
        return 0
    print(
        f"hybrid layer {rows}x{cols}: in_dims {in_dims}, out_dims {out_dims}, "
        f"bond {skel.bond_dims}, site {site} -> {skel.n_qubits(site)}-qubit "
        f"{args.ansatz} circuit, depth {args.depth}, readout {args.readout}\n"
    )
    print(report.to_markdown())
    return 0


def run_config(args: argparse.Namespace) -> int:
    """``--config``: cost report of the run config's adapter (see qtn.adapters.costs)."""
    from qtn.adapters.costs import config_costs, plot_tree
    from qtn.experiment.config import load_config

    config = load_config(args.config, args.overrides)
    costs = config_costs(config, cache_dir=args.cache_dir, lora_rank=args.lora_rank)
    bill = config_bill(config)
    plots = []
    if args.plot is not None:
        plots = [str(p) for p in plot_tree(costs.modules[0], config, args.plot, args.cache_dir)]
    if args.json:
        extra = {"quantum_bill": None}
        if bill is not None:
            bill_obj, run_kw = bill
            extra["quantum_bill"] = {**bill_obj.to_dict(), "run": bill_obj.for_run(**run_kw)}
        print(json.dumps({**costs.to_dict(), **extra, "plots": plots}))
        return 0
    print(costs.to_markdown())
    if bill is not None:
        bill_obj, run_kw = bill
        print("\n" + bill_obj.to_markdown(**run_kw))
    if plots:
        print("plots: " + ", ".join(plots))
    return 0


def config_bill(config):
    """The quantum bill of a run config (``qtn.quantum.bill``) from shapes only, with the run
    totals' arguments (steps, evaluation tokens and batches), or None without circuits."""
    import math

    from qtn.adapters.circuit_work import circuit_uses
    from qtn.adapters.costs import model_config_dict, target_shapes
    from qtn.quantum.bill import step_bill

    spec = config.adapter_spec
    if spec is None:
        return None
    uses = []
    for path, d_in, d_out in target_shapes(model_config_dict(config.model.path), spec):
        uses += circuit_uses(spec.method, path, spec.config_for(path), d_in, d_out)
    if not uses:
        return None
    q, data, train = config.quantum, config.data_config(), config.train
    tokens = data.batch_size * data.max_len * train.grad_accum
    bill = step_bill(
        uses,
        tokens_per_step=tokens,
        forwards_per_step=train.grad_accum,
        executor=q.executor,
        gradient=q.resolved_gradient,
        device=q.device_model(),
        shots=q.shots or 0,
        job_size=q.job_size,
        shot_time_s=q.shot_time_s,
        job_overhead_s=q.job_overhead_s,
    )
    n_eval = int(data.task_options.get("n_eval") or 0)
    eval_batch = data.eval_batch_size or data.batch_size
    run_kw = {
        "steps": train.steps,
        "eval_tokens": n_eval * data.max_len,
        "eval_batches": math.ceil(n_eval / eval_batch) if n_eval else 0,
    }
    return bill, run_kw
