"""Scanned vs unrolled programs: a deep QNN's periods (``qtn.quantum.statevector``'s
``SCAN_MIN_PERIODS``) and the decoder layers (``train.scan_layers``), side by side in one run.

Each row runs in its own process (fresh JAX, no compile cache) and reports the StableHLO op
count, lowering and compile seconds, the process's peak RSS, the steady-state call time and the
value (the scanned and unrolled rows must agree):

- the paper's QNN alone (``qnn_circuit(8, 8)``, <Z_i> readout, 1,024 tokens), value + grad
  w.r.t. weights and inputs, its 8 layers unrolled vs one ``lax.scan``;
- a SmolLM2-135M-shaped model (random weights) cut to ``--layers`` decoder layers, value +
  grad of the mean logit at 4 x 128 tokens w.r.t. the adapters, with LoRA r=8 and the paper
  sweeps' QTHA ABC r=8 (bottleneck 64, 3 MPO cores of TT ranks 1-8-8-1, 2 QNN layers) on
  q_proj + v_proj, the layers looped vs scanned. ``--full``: the 30 layers of the real model
  too, scanned only for QTHA (looped, its compile ran a 24 GiB machine out of memory).

    python benchmarks/bench_scan.py            # writes benchmarks/results/scan.json and scan.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from machine import lower_and_compile, run_meta, steady_seconds, write_results

RESULTS = Path(__file__).parent / "results"
QNN = (8, 8, 1024)  # qubits, layers, tokens


def worker_qnn(scan: bool) -> dict:
    import jax

    from qtn.quantum import statevector
    from qtn.quantum.circuit import qnn_circuit
    from qtn.quantum.config import EXACT_RUNNER

    if not scan:
        statevector.SCAN_MIN_PERIODS = 10**9
    import qtn.quantum.executors as executors

    # the JAX simulator's scan is what this row measures, not the C++ kernel (its default)
    executors.native_qnn.eligible = lambda circuit, weights, inputs: None
    r, layers, tokens = QNN
    circuit = qnn_circuit(r, layers)

    def loss(w, h):
        return EXACT_RUNNER.estimate(circuit, w, h, measure="z").sum()

    kw, kh = jax.random.split(jax.random.key(0))
    w = jax.random.uniform(kw, (circuit.n_weights,), minval=-3.0, maxval=3.0)
    h = jax.random.normal(kh, (tokens, r))
    res, compiled = lower_and_compile(jax.jit(jax.value_and_grad(loss, argnums=(0, 1))), w, h)
    res["steady_s"] = steady_seconds(compiled, w, h, reps=5)
    res["value"] = float(compiled(w, h)[0])
    return res


def worker_model(method: str, scan: bool, layers: int) -> dict:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from qtn.adapters.inject import inject
    from qtn.hf import default_model_path
    from qtn.models.config import LlamaConfig
    from qtn.models.random_init import random_llama
    from qtn.nn.variables import AdapterParam

    cfg = json.loads((default_model_path() / "config.json").read_text())
    cfg["num_hidden_layers"] = layers
    model = random_llama(LlamaConfig.from_dict(cfg))
    model.scan_layers = scan
    if method == "qtha":
        inject(model, "qtha", ["q_proj", "v_proj"], arch="ABC", r=8, alpha=16, bottleneck=64,
               mpo_cores=3, mpo_ranks=[1, 8, 8, 1], qnn_layers=2)
    else:
        inject(model, "lora", ["q_proj", "v_proj"], r=8, alpha=16)
    graphdef, params, rest = nnx.split(model, AdapterParam, ...)
    ids = (jnp.arange(4 * 128).reshape(4, 128) % 1000).astype(jnp.int32)

    def loss(params, rest, ids):
        return nnx.merge(graphdef, params, rest)(ids).astype(jnp.float32).mean()

    res, compiled = lower_and_compile(jax.jit(jax.value_and_grad(loss)), params, rest, ids)
    res["steady_s"] = steady_seconds(compiled, params, rest, ids, reps=3)
    value, grads = compiled(params, rest, ids)
    res["value"] = float(value)
    res["grad_sq"] = float(sum(jnp.sum(g.astype(jnp.float32) ** 2)
                               for g in jax.tree.leaves(grads)))
    return res


def _run(args: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--worker", *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parent)
    wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # GiB, max so far
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1][-300:] if proc.stderr else
                f"exit {proc.returncode}", "wall_s": wall}
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"wall_s": wall,
                                                               "max_rss_gib_so_far": rss}


def render(out: dict) -> str:
    m = out["meta"]
    lines = [
        "# Scanned vs unrolled: a deep QNN's layers and the decoder layers",
        "",
        f"Command: `{m['command']}` — {m['machine']} ({m['cpu_flags']}), {m['date']}; load "
        f"average {m['loadavg_start'][0]:.1f} at start, {m['loadavg_end'][0]:.1f} at end. "
        "Each row in its own process, no compile cache; peak RSS is the largest child process "
        "so far (rows run in table order, so it only bounds a row from above).",
        "",
        "| case | program | StableHLO ops | lower s | compile s | steady s | value | peak RSS "
        "GiB (bound) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, res in out["rows"].items():
        case, program = name.rsplit("/", 1)
        if "error" in res:
            lines.append(f"| {case} | {program} | error: {res['error']!r} ||||||")
            continue
        lines.append(
            f"| {case} | {program} | {res['hlo_ops']:,} | {res['lower_s']:.1f} | "
            f"{res['compile_s']:.1f} | {res['steady_s']:.3f} | {res['value']:.6g} | "
            f"{res['max_rss_gib_so_far']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=8, help="decoder layers of the model slice")
    ap.add_argument("--full", action="store_true", help="also the 30-layer model, scanned")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "qnn":
            res = worker_qnn(rest[0] == "scan")
        else:
            res = worker_model(rest[0], rest[1] == "scan", int(rest[2]))
        print(json.dumps(res))
        return
    load0 = os.getloadavg()
    r, layers, tokens = QNN
    jobs = [(f"QNN r={r}, {layers} layers, {tokens} tokens/{p}", ["qnn", p])
            for p in ("unrolled", "scan")]
    for method in ("lora", "qtha"):
        jobs += [(f"{method} on {args.layers} layers/{p}", ["model", method, p, str(args.layers)])
                 for p in ("loop", "scan")]
    if args.full:
        jobs += [(f"{method} on 30 layers/{p}", ["model", method, p, "30"])
                 for method, p in (("lora", "loop"), ("lora", "scan"), ("qtha", "scan"))]
    out: dict = {"rows": {}}
    for name, argv in jobs:
        out["rows"][name] = _run(argv)
        print(name, {k: out["rows"][name].get(k) for k in ("compile_s", "steady_s", "error")},
              flush=True)
    command = "python benchmarks/bench_scan.py"
    command += (f" --layers {args.layers}" if args.layers != 8 else "") + (
        " --full" if args.full else "")
    out["meta"] = run_meta(command, load0)
    write_results(RESULTS, "scan", out, render(out))


if __name__ == "__main__":
    main()
