"""Adapter layers on SmolLM2 shapes: jitted forward + backward, LoRA vs MPO vs circuit-MPO vs the
paper's QTHA, and the two forward formulations of the weight-space tensor-network layers.

Shapes: q_proj 576 x 576 and v_proj 576 x 192, x: (8, 128, 576) (batch 8 x 128 tokens).
Loss ``sum(layer(x) * g)`` for a fixed g; gradient w.r.t. the adapter parameters *and* x (the
backward of a layer inside a model needs dL/dx), plus a variant w.r.t. the adapter only.
Cases: frozen ``Linear`` alone (the floor), LoRA r=8, and the default MPO / circuit-MPO configs
with ``forward="fold"`` (``x @ (W0 + ΔW)``: ΔW built from the cores, one matmul forward) and
``forward="contract"`` (``x @ W0 + plan.apply(params, x)`` along the cotengra plan);
circuit-MPO-probs is circuit-MPO with the measured readout (the 4096-entry middle core from a
12-qubit circuit's probabilities). QTHA ABC r=8 is the paper's architecture (``qtha``) with the
SmolLM2 example config (bottleneck 64 = 4·4·4, 3 MPO cores, TT ranks 8, an 8-qubit 8-layer QNN
per token, exact simulation on the C++ kernel, ``qtn.quantum.native``); "(JAX simulator)" the
same with the kernel off (qtn's fused-block simulator); QTHA AB r=8 without the QNN (its cost).
Cases alternate in rounds (shared machine: load hits every case alike); best round median.

    python benchmarks/bench_layers.py [--quick]   # writes benchmarks/results/layers.json, .md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from flax import nnx

from qtn.adapters.circuit_mpo import CircuitMPOConfig, make_circuit_mpo
from qtn.adapters.lora import LoRAConfig, make_lora
from qtn.adapters.mpo import MPOConfig, make_mpo
from qtn.adapters.qtha import QTHAConfig, make_qtha
from qtn.nn.linear import Linear
from qtn.nn.variables import AdapterParam
from qtn.quantum.config import CircuitRunner
from qtn.quantum.executors import ExactExecutor

RESULTS = Path(__file__).parent / "results"
SHAPES = {"q_proj": (576, 576), "v_proj": (576, 192)}
BATCH, SEQ = 8, 128


def median_ms(fn, args, min_time: float) -> float:
    times = []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < min_time and len(times) < 2000):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    times.sort()
    return 1e3 * times[len(times) // 2]


def step_fn(layer: nnx.Module, wrt_x: bool):
    """Jitted (loss, grads) of ``sum(layer(x) * g)`` w.r.t. AdapterParams (and x)."""
    graphdef, train, frozen = nnx.split(layer, AdapterParam, ...)

    def loss(train, x, g):
        model = nnx.merge(graphdef, train, frozen)
        return jnp.sum(model(x) * g)

    argnums = (0, 1) if wrt_x else 0

    @jax.jit
    def step(train, x, g):
        return jax.value_and_grad(loss, argnums=argnums)(train, x, g)

    return step, train


def frozen_fn(base: Linear):
    """The floor: frozen matmul forward + dL/dx (what any adapter pays at least)."""
    graphdef, state = nnx.split(base)

    @jax.jit
    def step(state, x, g):
        return jax.value_and_grad(lambda x: jnp.sum(nnx.merge(graphdef, state)(x) * g))(x)

    return step, state


def build(name: str, base: Linear):
    rngs = nnx.Rngs(1)
    if name == "LoRA r=8":
        return make_lora(base, LoRAConfig(r=8, alpha=16.0), rngs)
    if name.startswith("QTHA "):
        arch = name.split()[1]
        layer = make_qtha(base, QTHAConfig(arch=arch, **QTHA_SMOLLM2), rngs)
        if name.endswith("(JAX simulator)"):  # the C++ kernel off: qtn's pure-JAX QNN path
            layer.runner = CircuitRunner(ExactExecutor(native=False), "autodiff")
        return layer
    method, forward = name.split()
    if method == "MPO":
        return make_mpo(base, MPOConfig(forward=forward), rngs)
    readout = "probs" if method == "circuit-MPO-probs" else "unitary"
    return make_circuit_mpo(base, CircuitMPOConfig(forward=forward, readout=readout), rngs)


# experiments/paper_qtha/qtha_abc_r8.yaml's adapter
QTHA_SMOLLM2 = {"r": 8, "bottleneck": 64, "mpo_cores": 3, "mpo_ranks": (1, 8, 8, 1)}
CASES = (
    "frozen",
    "LoRA r=8",
    "MPO fold",
    "MPO contract",
    "circuit-MPO fold",
    "circuit-MPO contract",
    "circuit-MPO-probs fold",
    "circuit-MPO-probs contract",
    "QTHA AB r=8",
    "QTHA ABC r=8",
    "QTHA ABC r=8 (JAX simulator)",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds per case")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--quick", action="store_true", help="every case, shorter timing (0.6 s, 2 rounds)"
    )
    args = parser.parse_args()
    if args.quick:
        args.min_time, args.rounds = 0.6, 2
    rows = []
    for module, (d_in, d_out) in SHAPES.items():
        base = Linear(d_in, d_out, rngs=nnx.Rngs(0))
        x = jax.random.normal(jax.random.key(2), (BATCH, SEQ, d_in))
        g = jax.random.normal(jax.random.key(3), (BATCH, SEQ, d_out))
        cases = {}
        for name in CASES:
            for wrt_x in (True, False):
                if name == "frozen" and not wrt_x:
                    continue
                t0 = time.perf_counter()
                if name == "frozen":
                    fn, state = frozen_fn(base)
                    params = 0
                else:
                    layer = build(name, base)
                    fn, state = step_fn(layer, wrt_x)
                    params = layer.num_trainable()
                jax.block_until_ready(fn(state, x, g))
                first = time.perf_counter() - t0
                cases[(name, wrt_x)] = (fn, (state, x, g), params, first)
        best = dict.fromkeys(cases, float("inf"))
        for _ in range(args.rounds):
            for key, (fn, fargs, _, _) in cases.items():
                best[key] = min(best[key], median_ms(fn, fargs, args.min_time / args.rounds))
        lora = best[("LoRA r=8", True)]
        for (name, wrt_x), (_, _, params, first) in cases.items():
            rows.append(
                {
                    "module": module,
                    "shape": f"{d_in}x{d_out}",
                    "case": name,
                    "grad_wrt_x": wrt_x,
                    "ms": round(best[(name, wrt_x)], 3),
                    "vs_lora_wrt_x": round(best[(name, wrt_x)] / lora, 2) if wrt_x else None,
                    "first_call_s": round(first, 2),
                    "trainable_params": params,
                }
            )
    meta = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "load_average": os.getloadavg(),
        "tokens": BATCH * SEQ,
        "min_time_s": args.min_time,
        "rounds": args.rounds,
        "command": "python benchmarks/bench_layers.py" + (" --quick" if args.quick else ""),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "layers.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    (args.out / "layers.md").write_text(markdown(meta, rows))
    print(markdown(meta, rows))


def markdown(meta: dict, rows: list[dict]) -> str:
    lines = [
        f"# Adapter layers on SmolLM2 shapes, {meta['machine']}, {meta['cpus']} CPU cores",
        "",
        f"Command: `{meta['command']}` ({meta['rounds']} rounds, {meta['min_time_s']} s per "
        "case). x: (8, 128, d_in); jitted loss "
        "sum(layer(x) * g) + gradient, best round median ms. Defaults: MPO 3 cores, bond 8; "
        "circuit-MPO the same with the middle core a 6-qubit depth-4 RY + CZ circuit; "
        "circuit-MPO-probs the same core as a 12-qubit depth-4 circuit's probabilities (readout "
        "probs). `fold` = x @ (W0 + ΔW); `contract` = x @ W0 + plan.apply(x). QTHA = the "
        "paper's architecture (qtha, bottleneck 64, 3 MPO cores, TT ranks 8, r = 8: one 8-qubit "
        "8-layer QNN per token, 1,024 circuits per forward, exact simulation with adjoint-method "
        "gradients on qtn's C++ kernel; `(JAX simulator)`: the kernel off); AB = the same "
        "without the QNN. Load average during the run: "
        + ", ".join(f"{v:.1f}" for v in meta["load_average"])
        + " (shared machine).",
        "",
        "| module | case | trainable | ms (grad adapter + x) | vs LoRA | ms (grad adapter only) "
        "| first call s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    by = {(r["module"], r["case"], r["grad_wrt_x"]): r for r in rows}
    for module in SHAPES:
        for case in CASES:
            r = by[(module, case, True)]
            only = by.get((module, case, False))
            lines.append(
                f"| {module} {r['shape']} | {case} | {r['trainable_params']:,} | {r['ms']:.2f} "
                f"| {r['vs_lora_wrt_x']:.2f}x | {only['ms'] if only else '-'} "
                f"| {r['first_call_s']:.2f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
