"""Hardware-path throughput: circuits per second of a shot-sampled parameter-shift gradient,
qtn's ``sampled`` executor vs PennyLane ``default.qubit`` (shots=1000,
diff_method="parameter-shift"), the same circuits in the same run.

Workloads (one forward + one gradient of ``sum(w_out * <Z>)``):

- ``qnn``: the paper's per-token QNN (r qubits, L = r layers: RY(h) encoding, CRZ ring, RY,
  CRZ reverse ring, RY) on T tokens; the gradient w.r.t. the weights and the inputs, so every
  slot is shifted (2 circuits per RY slot, 4 per CRZ slot);
- ``core``: a 12-qubit HEA (RY + CZ chain, depth 4) measured as probabilities (the
  weight-space ``probs`` readout): 1 + 2 x 48 circuits.

Circuits per second = circuits evaluated (forward + shifted) / steady wall time (median of
repeats after a warm-up; qtn is jitted, compile time reported separately). Each framework
runs in its own subprocess. The exact (shots=None) gradients of both are compared first: the
circuits are the same.

    python benchmarks/bench_shots.py            # qnn r=8 (T=16, 256), core n=12
    python benchmarks/bench_shots.py --quick    # qnn r=4 (T=16), core n=8
    # writes benchmarks/results/shots.json and shots.md
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
SHOTS = 1000


def cpu_flags() -> str:
    """The CPU's wide vector extensions (AVX2 / AVX-512 / AMX) from /proc/cpuinfo."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    found = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return ", ".join(found) or "none of avx2/avx512/amx"


def workload(kind: str, size: int, tokens: int, seed: int = 0):
    """(circuit, weights, inputs or None, output weights)."""
    from qtn.quantum import ansatz_circuit, qnn_circuit
    from qtn.tn import CircuitSpec

    rng = np.random.default_rng(seed)
    if kind == "qnn":
        c = qnn_circuit(size, size)
        x = rng.normal(size=(tokens, size))
        out = rng.normal(size=(tokens, size))
    else:
        c = ansatz_circuit(CircuitSpec(4, readout="probs"), size)
        x = None
        out = rng.normal(size=(1, 2**size))
    w = rng.uniform(-np.pi, np.pi, c.n_weights)
    return c, w, x, out


def run_qtn(kind: str, size: int, tokens: int, shots: int | None, min_time: float) -> dict:
    import jax
    import jax.numpy as jnp

    from qtn.quantum import ExactExecutor, SampledExecutor, estimate, shifted_circuits

    c, w, x, out = workload(kind, size, tokens)
    measure = "z" if kind == "qnn" else "probs"
    ex = ExactExecutor() if shots is None else SampledExecutor(shots=shots)
    out = jnp.asarray(out, jnp.float32)

    def loss(w, x, key):
        y = estimate(ex, c, w, x, measure=measure, gradient="parameter_shift", key=key)
        return jnp.sum(y * out)

    argnums = (0, 1) if x is not None else (0,)
    f = jax.jit(jax.value_and_grad(loss, argnums=argnums))
    wj = jnp.asarray(w, jnp.float32)
    xj = None if x is None else jnp.asarray(x, jnp.float32)
    t0 = time.perf_counter()
    value, grads = f(wj, xj, jax.random.key(0))
    jax.block_until_ready(grads)
    first = time.perf_counter() - t0
    times, i = [], 1
    while sum(times) < min_time or len(times) < 3:
        t0 = time.perf_counter()
        jax.block_until_ready(f(wj, xj, jax.random.key(i)))
        times.append(time.perf_counter() - t0)
        i += 1
    batch = tokens if kind == "qnn" else 1
    circuits = batch * (1 + shifted_circuits(c))
    return {
        "first_s": first,
        "steady_s": float(np.median(times)),
        "circuits": circuits,
        "grad_w": np.asarray(grads[0]).tolist(),
    }


def run_pennylane(kind: str, size: int, tokens: int, shots: int | None, min_time: float) -> dict:
    import pennylane as qml
    from pennylane import numpy as pnp

    c, w, x, out = workload(kind, size, tokens)
    dev = qml.device("default.qubit", wires=c.n_qubits, seed=0)

    def apply(weights, inputs):
        for g in c.gates:
            angle = 0.0
            if g.weight >= 0:
                angle = angle + weights[g.weight]
            if g.input >= 0:
                angle = angle + inputs[..., g.input]
            if g.name == "ry":
                qml.RY(angle, wires=g.qubits[0])
            elif g.name == "crz":
                qml.CRZ(angle, wires=list(g.qubits))
            elif g.name == "cz":
                qml.CZ(wires=list(g.qubits))

    if kind == "qnn":
        @qml.qnode(dev, diff_method="parameter-shift")
        def circuit(weights, inputs):
            apply(weights, inputs)
            return [qml.expval(qml.PauliZ(q)) for q in range(c.n_qubits)]
    else:
        @qml.qnode(dev, diff_method="parameter-shift")
        def circuit(weights, inputs):
            apply(weights, inputs)
            return qml.probs(wires=range(c.n_qubits))

    circuit = qml.set_shots(circuit, shots=shots)
    out = pnp.array(out, requires_grad=False)
    weights = pnp.array(w, requires_grad=True)
    inputs = pnp.array(x if x is not None else np.zeros((1, 0)), requires_grad=x is not None)

    def loss(weights, inputs):
        # one QNode call per token: PennyLane's parameter shift does not differentiate
        # broadcast (batched) parameters
        total = 0.0
        for b in range(inputs.shape[0]):
            y = circuit(weights, inputs[b])
            y = pnp.stack(y) if kind == "qnn" else y
            total = total + pnp.sum(y * out[b])
        return total

    argnum = [0, 1] if x is not None else [0]
    grad_fn = qml.grad(loss, argnums=argnum)
    t0 = time.perf_counter()
    grads = grad_fn(weights, inputs)
    first = time.perf_counter() - t0
    times = []
    while sum(times) < min_time or not times:
        t0 = time.perf_counter()
        grads = grad_fn(weights, inputs)
        times.append(time.perf_counter() - t0)
    from qtn.quantum import shifted_circuits

    batch = tokens if kind == "qnn" else 1
    g = grads[0] if isinstance(grads, tuple | list) else grads
    return {
        "first_s": first,
        "steady_s": float(np.median(times)),
        "circuits": batch * (1 + shifted_circuits(c)),
        "grad_w": np.asarray(g).tolist(),
    }


RUNNERS = {"qtn": run_qtn, "pennylane": run_pennylane}


def in_subprocess(framework, kind, size, tokens, shots, min_time) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps(
        [framework, kind, size, tokens, shots, min_time])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def to_markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"# Hardware-path throughput: sampled parameter-shift gradients ({meta['machine']}, "
        f"{meta['cpu_flags']}; load average at the end {meta.get('load_avg_end')})",
        "",
        f"Command: `{meta['command']}`. {SHOTS} shots per circuit; circuits = forward + "
        "shifted circuits of one gradient; qtn jitted (first = compile + first call). "
        "Exact-gradient agreement (shots=None) checked first: max |qtn - PennyLane| below.",
        "",
        "| workload | qubits | tokens (qtn / PL) | circuits (qtn) | qtn circuits/s | "
        "PennyLane circuits/s | qtn / PennyLane | qtn first s | exact grad max diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        q, p = r["qtn"], r["pennylane"]
        qps = q["circuits"] / q["steady_s"]
        pps = p["circuits"] / p["steady_s"] if "steady_s" in p else float("nan")
        lines.append(
            f"| {r['kind']} | {r['size']} | {r['tokens']} / {r['pl_tokens']} | "
            f"{q['circuits']:,} | {qps:,.0f} | "
            f"{pps:,.0f} | {qps / pps:.1f}x | {q['first_s']:.1f} | {r['exact_diff']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="r=4 QNN and an 8-qubit core")
    parser.add_argument("--min-time", type=float, default=3.0, help="seconds of steady repeats")
    args = parser.parse_args()
    if args.worker:
        framework, kind, size, tokens, shots, min_time = json.loads(args.worker)
        result = RUNNERS[framework](kind, size, tokens, shots, min_time)
        print(json.dumps(result))
        return
    cases = (
        [("qnn", 4, 16), ("core", 8, 1)]
        if args.quick
        else [("qnn", 8, 16), ("qnn", 8, 256), ("core", 12, 1)]
    )
    rows = []
    for kind, size, tokens in cases:
        # PennyLane runs ~40 circuits/s here: 2 tokens (1,794 circuits at r=8) suffice for a rate
        pl_tokens = min(tokens, 2)
        exact_q = in_subprocess("qtn", kind, size, pl_tokens, None, 0.0)
        exact_p = in_subprocess("pennylane", kind, size, pl_tokens, None, 0.0)
        diff = float(np.max(np.abs(np.asarray(exact_q["grad_w"]) - np.asarray(exact_p["grad_w"]))))
        q = in_subprocess("qtn", kind, size, tokens, SHOTS, args.min_time)
        p = in_subprocess("pennylane", kind, size, pl_tokens, SHOTS, args.min_time)
        rows.append({"kind": kind, "size": size, "tokens": tokens, "pl_tokens": pl_tokens,
                     "qtn": {k: v for k, v in q.items() if k != "grad_w"},
                     "pennylane": {k: v for k, v in p.items() if k != "grad_w"},
                     "exact_diff": diff})
        print(rows[-1], flush=True)
    meta = {
        "command": "python benchmarks/bench_shots.py" + (" --quick" if args.quick else ""),
        "load_avg_end": [round(x, 2) for x in __import__("os").getloadavg()],
        "machine": f"{platform.machine()}, {subprocess.getoutput('nproc')} CPU cores",
        "cpu_flags": cpu_flags(),
        "shots": SHOTS,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "shots.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    (RESULTS / "shots.md").write_text(to_markdown(rows, meta))
    print(to_markdown(rows, meta))


if __name__ == "__main__":
    main()
