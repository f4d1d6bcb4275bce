"""Jitted forward + grad of one circuit core: qtn vs tensorcircuit-ng vs PennyLane (all JAX).

Circuit: hardware-efficient ansatz (per layer RY on every qubit, then a CZ chain), n qubits,
depth L, angles (L, n). Loss: <Z_0> of U(theta)|0...0> (a scalar; all three must agree).
qtn runs the circuit as the network of a 1-site hybrid layer (x = |0...0>, batch 1) with its
default plan strategy (``apply`` for n > 6: the circuit applied layer by layer in 16 x 16
Kronecker factors); ``qtn-whole-combo`` is the strategy auto chose before (one cotengra path
over x and every gate), run for n > 6 as the before/after reference; tensorcircuit-ng uses
``expectation_ps`` (jax backend); PennyLane uses
``default.qubit`` with ``interface="jax"`` (backprop). Every (framework, n, L) runs in its own
subprocess: first call = building the function (qtn: path search with an empty cotengra cache)
+ jit compile + first run; steady = median of repeated calls after that.

    python benchmarks/bench_circuit.py            # n in {4,8,12,16}, L in {2,8}
    python benchmarks/bench_circuit.py --quick    # n in {4,8}, L in {2,8}
    # writes benchmarks/results/circuit.json and circuit.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_flags

RESULTS = Path(__file__).parent / "results"
FRAMEWORKS = ("qtn", "tensorcircuit", "pennylane")
REFERENCE = "qtn-whole-combo"  # the previous default for n > 6


def build_qtn(n: int, depth: int, cache_dir: str, strategy: str = "auto"):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from qtn.contract import get_plan
    from qtn.tn import CircuitSpec, hybrid_skeleton

    skel = hybrid_skeleton((2**n,), (2**n,), 1, {0: CircuitSpec(depth)})
    plan = get_plan(skel, 1, jnp.float32, cache_dir=cache_dir, strategy=strategy)
    x = jnp.zeros((1, 2**n), jnp.float32).at[0, 0].set(1.0)
    z0 = jnp.asarray(np.where(np.arange(2**n) < 2 ** (n - 1), 1.0, -1.0), jnp.float32)

    def loss(theta):
        psi = plan.apply({"angles0": theta}, x)[0]
        return jnp.sum(z0 * psi * psi)

    return jax.jit(jax.value_and_grad(loss)), plan.strategy


def build_tensorcircuit(n: int, depth: int, cache_dir: str):
    import jax
    import jax.numpy as jnp
    import tensorcircuit as tc

    tc.set_backend("jax")
    tc.set_dtype("complex64")

    def loss(theta):
        c = tc.Circuit(n)
        for layer in range(depth):
            for q in range(n):
                c.ry(q, theta=theta[layer, q])
            for q in range(n - 1):
                c.cz(q, q + 1)
        return jnp.real(c.expectation_ps(z=[0]))

    return jax.jit(jax.value_and_grad(loss)), "expectation_ps"


def build_pennylane(n: int, depth: int, cache_dir: str):
    import jax
    import pennylane as qml

    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="jax")
    def loss(theta):
        for layer in range(depth):
            for q in range(n):
                qml.RY(theta[layer, q], wires=q)
            for q in range(n - 1):
                qml.CZ(wires=[q, q + 1])
        return qml.expval(qml.PauliZ(0))

    return jax.jit(jax.value_and_grad(loss)), "default.qubit backprop"


def worker(framework: str, n: int, depth: int, min_time: float) -> dict:
    import jax
    import jax.numpy as jnp

    theta = jax.random.uniform(jax.random.key(0), (depth, n), jnp.float32, -3.0, 3.0)
    builder = {"qtn": build_qtn, "tensorcircuit": build_tensorcircuit, "pennylane": build_pennylane,
               REFERENCE: lambda n, d, c: build_qtn(n, d, c, "whole-combo")}
    with tempfile.TemporaryDirectory() as cache_dir:
        t0 = time.perf_counter()
        fn, note = builder[framework](n, depth, cache_dir)
        value, grad = jax.block_until_ready(fn(theta))
        first = time.perf_counter() - t0
    times = []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < min_time and len(times) < 2000):
        t = time.perf_counter()
        jax.block_until_ready(fn(theta))
        times.append(time.perf_counter() - t)
    times.sort()
    return {
        "framework": framework,
        "n": n,
        "depth": depth,
        "note": note,
        "first_call_s": first,
        "steady_ms": 1e3 * times[len(times) // 2],
        "reps": len(times),
        "loss": float(value),
        "grad_norm": float(jnp.linalg.norm(grad)),
    }


def run_row(framework: str, n: int, depth: int, min_time: float, limit: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", framework, str(n), str(depth), str(min_time)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {"framework": framework, "n": n, "depth": depth, "timeout_s": limit}
    if proc.returncode != 0:
        return {"framework": framework, "n": n, "depth": depth, "error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def to_markdown(rows: list[dict], meta: dict) -> str:
    def cell(r, key, fmt):
        if r is None:
            return "-"
        if "timeout_s" in r:
            return f"> {r['timeout_s']:.0f} s limit"
        if "error" in r:
            return "error"
        return format(r[key], fmt)

    def ratio(a, b, key):
        if a is None or b is None or key not in a or key not in b:
            return "-"
        return f"{a[key] / b[key]:.2f}"

    by = {(r["framework"], r["n"], r["depth"]): r for r in rows}
    lines = [
        f"# Circuit core: jitted forward + grad (<Z_0>, HEA RY + CZ chain), {meta['machine']}",
        "",
        f"Command: `{meta['command']}` ({meta.get('cpu_flags', '?')}; load average "
        f"{meta.get('loadavg_start', [float('nan')])[0]:.1f} at start, "
        f"{meta.get('loadavg_end', [float('nan')])[0]:.1f} at end). Steady = median ms per "
        "call; first = build (qtn: cold path search) + compile + first call, seconds. Ratios are "
        "qtn / peer (< 1: qtn faster). qtn's strategy: " + ", ".join(
            f"n={n}: {by[('qtn', n, d)]['note']}" for n, d in meta["grid"]
            if d == meta["grid"][0][1] and "note" in by.get(("qtn", n, d), {})
        ) + f"; wc = {REFERENCE}, the strategy qtn used for n > 6 before (reference).",
        "",
        "| n | L | qtn ms | tc ms | PL ms | qtn/tc | qtn/PL | qtn first s | tc first s "
        "| PL first s | wc ms | wc first s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, depth in meta["grid"]:
        q, t, p = (by.get((f, n, depth)) for f in FRAMEWORKS)
        w = by.get((REFERENCE, n, depth))
        lines.append(
            f"| {n} | {depth} | {cell(q, 'steady_ms', '.3f')} | {cell(t, 'steady_ms', '.3f')} "
            f"| {cell(p, 'steady_ms', '.3f')} | {ratio(q, t, 'steady_ms')} "
            f"| {ratio(q, p, 'steady_ms')} | {cell(q, 'first_call_s', '.2f')} "
            f"| {cell(t, 'first_call_s', '.2f')} | {cell(p, 'first_call_s', '.2f')} "
            f"| {cell(w, 'steady_ms', '.3f')} | {cell(w, 'first_call_s', '.2f')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=4, metavar=("FRAMEWORK", "N", "L", "MIN_TIME"))
    parser.add_argument("--quick", action="store_true", help="n in {4, 8} only")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds of steady reps")
    parser.add_argument("--limit", type=float, default=240.0, help="seconds per row, each")
    args = parser.parse_args()
    if args.worker:
        framework, n, depth, min_time = args.worker
        print(json.dumps(worker(framework, int(n), int(depth), float(min_time))))
        return
    ns = (4, 8) if args.quick else (4, 8, 12, 16)
    grid = [(n, depth) for n in ns for depth in (2, 8)]
    rows = []
    load0 = os.getloadavg()
    for n, depth in grid:
        frameworks = args.frameworks.split(",") + ([REFERENCE] if n > 6 else [])
        for framework in frameworks:
            row = run_row(framework, n, depth, args.min_time, args.limit)
            print(json.dumps(row), flush=True)
            rows.append(row)
    for n, depth in grid:  # all frameworks computed the same loss
        losses = [r["loss"] for r in rows if (r["n"], r["depth"]) == (n, depth) and "loss" in r]
        if losses and max(losses) - min(losses) > 1e-3:
            raise SystemExit(f"frameworks disagree at n={n}, L={depth}: {losses}")
    meta = {
        "command": "python benchmarks/bench_circuit.py" + (" --quick" if args.quick else ""),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores",
        "grid": grid,
        "limit_s": args.limit,
        "cpu_flags": cpu_flags(),
        "loadavg_start": load0,
        "loadavg_end": os.getloadavg(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "circuit.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (RESULTS / "circuit.md").write_text(to_markdown(rows, meta))
    print(to_markdown(rows, meta))


if __name__ == "__main__":
    main()
