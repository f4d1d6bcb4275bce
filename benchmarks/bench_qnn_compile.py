"""Compile cost of the paper's per-token QNN: the native C++ kernel, dense small-circuit
simulation and the fused-block state vector, side by side in one run.

Two measurements, each configuration in its own subprocess (fresh JAX, no compile cache):

- the QNN alone (``qnn_circuit(r, layers)``, <Z_i> readout, 512 tokens): jitted value + grad
  w.r.t. weights and inputs; StableHLO size, op count, compile seconds (wall and CPU), and the
  steady-state call time;
- the paper's QTHA ABC r=4 (bottleneck 32, 3 MPO cores of TT rank 4) on q_proj + v_proj of a
  SmolLM2-135M-shaped model cut to ``--layers`` decoder layers (random weights): the jitted
  value + grad of the mean logit at 4 x 128 tokens, with LoRA r=8 as the reference.

``native`` is qtn's default on CPU in float32 (the C++ kernel, ``qtn.quantum.native``); ``dense``
is the JAX default for circuits of <= 6 qubits (``qtn.quantum.dense``), with the kernel turned
off; ``fused`` forces the fused-block simulator (``qtn.quantum.statevector``) by turning both
off.

    python benchmarks/bench_qnn_compile.py              # r=4, 2 and 4 QNN layers; 4 layers
    python benchmarks/bench_qnn_compile.py --layers 8   # a bigger model slice
    # writes benchmarks/results/qnn_compile.json and qnn_compile.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from machine import lower_and_compile, run_meta, steady_seconds, write_results

RESULTS = Path(__file__).parent / "results"
TOKENS = 512
QNN_CASES = ((4, 2), (4, 4))  # (qubits r, QNN layers)


def _use_path(path: str) -> None:
    import qtn.quantum.executors as executors

    if path in ("dense", "fused"):
        executors.native_qnn.eligible = lambda circuit, weights, inputs: None
    if path == "fused":
        executors.dense_eligible = lambda circuit: False


def worker_qnn(path: str, r: int, layers: int) -> dict:
    import jax

    _use_path(path)
    from qtn.quantum.circuit import qnn_circuit
    from qtn.quantum.config import EXACT_RUNNER

    circuit = qnn_circuit(r, layers)

    def loss(w, h):
        return EXACT_RUNNER.estimate(circuit, w, h, measure="z").sum()

    fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    kw, kh = jax.random.split(jax.random.key(0))
    w = jax.random.uniform(kw, (circuit.n_weights,), minval=-3.0, maxval=3.0)
    h = jax.random.normal(kh, (TOKENS, r))
    res, compiled = lower_and_compile(fn, w, h)
    res["steady_ms"] = 1e3 * steady_seconds(compiled, w, h)
    res["value"] = float(compiled(w, h)[0])
    return res


def worker_model(path: str, method: str, layers: int) -> dict:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    _use_path(path)
    from qtn.adapters.inject import inject
    from qtn.hf import default_model_path
    from qtn.models.config import LlamaConfig
    from qtn.models.random_init import random_llama
    from qtn.nn.variables import AdapterParam

    cfg = json.loads((default_model_path() / "config.json").read_text())
    cfg["num_hidden_layers"] = layers
    model = random_llama(LlamaConfig.from_dict(cfg))
    if method == "qtha":
        inject(model, "qtha", ["q_proj", "v_proj"], arch="ABC", r=4, alpha=8, bottleneck=32,
               mpo_cores=3, mpo_ranks=4, qnn_layers=2)
    else:
        inject(model, "lora", ["q_proj", "v_proj"], r=8, alpha=16)
    graphdef, params, rest = nnx.split(model, AdapterParam, ...)
    ids = jnp.zeros((4, 128), jnp.int32)

    def loss(params, rest, ids):
        return nnx.merge(graphdef, params, rest)(ids).astype(jnp.float32).mean()

    return lower_and_compile(jax.jit(jax.value_and_grad(loss)), params, rest, ids)[0]


def _run(args: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--worker", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parent)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def render(out: dict) -> str:
    m = out["meta"]
    lines = [
        "# Compile cost of the per-token QNN: native kernel vs dense vs fused-block simulation",
        "",
        f"Command: `{m['command']}` — {m['machine']} ({m['cpu_flags']}), {m['date']}; load "
        f"average {m['loadavg_start'][0]:.1f} at start, {m['loadavg_end'][0]:.1f} at end. Each "
        "row in its own process, no compile cache. `native` (the C++ kernel) is qtn's default; "
        "`dense` (the JAX default for <= 6 qubits) turns it off, `fused` both.",
        "",
        f"## The QNN alone: value + grad (weights and inputs) at {TOKENS} tokens",
        "",
        "| r | QNN layers | path | StableHLO ops | StableHLO chars | compile s | compile CPU s "
        "| steady ms | compile / fused's |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, rows in out["qnn"].items():
        r, layers = key.split("x")
        fused = rows.get("fused", {}).get("compile_cpu_s")
        for path, res in rows.items():
            if "error" in res:
                lines.append(f"| {r} | {layers} | {path} | error: {res['error'][-100:]!r} |||||")
                continue
            ratio = (f"{res['compile_cpu_s'] / fused:.2f}" if fused and path != "fused"
                     else "-")
            lines.append(
                f"| {r} | {layers} | {path} | {res['hlo_ops']:,} | {res['hlo_chars']:,} | "
                f"{res['compile_s']:.2f} | {res['compile_cpu_s']:.2f} | {res['steady_ms']:.2f} "
                f"| {ratio} |"
            )
    lines += [
        "",
        f"## QTHA ABC r=4 (2 QNN layers) on q_proj + v_proj of {out['layers']} SmolLM2 decoder "
        "layers: value + grad at 4 x 128 tokens",
        "",
        "| adapter | path | lower s | compile s | compile CPU s | StableHLO chars |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, res in out["model"].items():
        method, path = name.split("/")
        path = "-" if method == "lora" else path  # no circuit
        if "error" in res:
            lines.append(f"| {method} | {path} | error: {res['error'][-100:]!r} ||||")
            continue
        lines.append(
            f"| {method} | {path} | {res['lower_s']:.1f} | {res['compile_s']:.1f} | "
            f"{res['compile_cpu_s']:.1f} | {res['hlo_chars']:,} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4, help="decoder layers of the model slice")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, path, *rest = args.worker
        if kind == "qnn":
            res = worker_qnn(path, int(rest[0]), int(rest[1]))
        else:
            res = worker_model(path, rest[0], int(rest[1]))
        print(json.dumps(res))
        return
    load0 = os.getloadavg()
    out: dict = {"qnn": {}, "model": {}, "layers": args.layers}
    for r, layers in QNN_CASES:
        out["qnn"][f"{r}x{layers}"] = {
            path: _run(["qnn", path, str(r), str(layers)])
            for path in ("native", "dense", "fused")
        }
        print("qnn", r, layers, {p: v.get("compile_cpu_s") for p, v in
                                 out["qnn"][f"{r}x{layers}"].items()}, flush=True)
    for method, path in (("lora", "dense"), ("qtha", "native"), ("qtha", "dense"),
                         ("qtha", "fused")):
        out["model"][f"{method}/{path}"] = _run(["model", path, method, str(args.layers)])
        print("model", method, path, out["model"][f"{method}/{path}"].get("compile_cpu_s"),
              flush=True)
    out["meta"] = run_meta(
        "python benchmarks/bench_qnn_compile.py"
        + (f" --layers {args.layers}" if args.layers != 4 else ""),
        load0,
    )
    write_results(RESULTS, "qnn_compile", out, render(out))


if __name__ == "__main__":
    main()
