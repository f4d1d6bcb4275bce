"""The per-token QNN's state vector simulated in row chunks: value + grad of the paper's QNN at
one module's token count, for several rows per chunk, side by side in one run.

The QNN is the one ``bench_train.py``'s ``qtn-qtha`` runs (``qnn_circuit(8, 2)``: 8 qubits,
2 layers, <Z_i> readout) over 1,024 tokens (8 x 128), through the exact runner as
``QTHALinear`` calls it; the loss is ``sum(<Z> * probe)`` for a fixed random probe, and the
gradient is w.r.t. the circuit weights and the encoding inputs (the adjoint method of
``qtn.quantum.statevector``). ``rows`` is the chunk size ``qtn.quantum.executors`` uses for a
given ``chunk_amplitudes`` (1,024 rows: one chunk, no chunking). The configurations alternate
in one process for ``--rounds`` rounds; each round reports the median of ``--reps`` calls, and
the table gives the median over rounds and the ratio to the unchunked run.

    python benchmarks/bench_qnn_chunks.py                 # 3 rounds of 40 calls
    python benchmarks/bench_qnn_chunks.py --layers 2 8    # also the 8-layer (r = 8) QNN
    # writes benchmarks/results/qnn_chunks.json and qnn_chunks.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from machine import run_meta, write_results

RESULTS = Path(__file__).parent / "results"
QUBITS, TOKENS = 8, 1024
CHUNK_AMPLITUDES = (1 << 18, 1 << 17, 1 << 16)  # 1,024, 512 and 256 rows of 8 qubits


def measure(layers: int, rounds: int, reps: int) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from qtn.quantum.circuit import qnn_circuit
    from qtn.quantum.executors import chunk_rows, exact_probabilities
    from qtn.quantum.statevector import z_expectations

    circuit = qnn_circuit(QUBITS, layers)
    kw, kh, kp = jax.random.split(jax.random.key(0), 3)
    w = jax.random.uniform(kw, (circuit.n_weights,), minval=-np.pi, maxval=np.pi)
    h = jax.random.normal(kh, (TOKENS, QUBITS))
    probe = jax.random.normal(kp, (TOKENS, QUBITS))

    def make(amplitudes: int):
        def loss(w, h):
            angles = circuit.slot_angles(w, h)
            probs = exact_probabilities(circuit, angles, shared_rows=True,
                                        chunk_amplitudes=amplitudes)
            return jnp.sum(z_expectations(probs) * probe)

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))

    fns = {a: make(a) for a in CHUNK_AMPLITUDES}
    values = {a: jax.block_until_ready(fn(w, h)) for a, fn in fns.items()}
    ref = values[CHUNK_AMPLITUDES[0]]
    times: dict[int, list[float]] = {a: [] for a in CHUNK_AMPLITUDES}
    for _ in range(rounds):
        for a, fn in fns.items():
            calls = []
            for _ in range(reps):
                t = time.perf_counter()
                jax.block_until_ready(fn(w, h))
                calls.append(time.perf_counter() - t)
            times[a].append(float(np.median(calls)) * 1e3)
    rows = []
    for a in CHUNK_AMPLITUDES:
        value, (gw, gh) = values[a]
        rows.append({
            "layers": layers,
            "chunk_amplitudes": a,
            "rows": chunk_rows(TOKENS, QUBITS, a),
            "round_ms": times[a],
            "median_ms": float(np.median(times[a])),
            "max_abs_diff": float(max(abs(value - ref[0]), jnp.abs(gw - ref[1][0]).max(),
                                      jnp.abs(gh - ref[1][1]).max())),
        })
    return rows


def render(out: dict) -> str:
    m = out["meta"]
    lines = [
        "# The per-token QNN in row chunks: value + grad at one module's tokens",
        "",
        f"Command: `{m['command']}` — {m['machine']} ({m['cpu_flags']}), {m['date']}; load "
        f"average {m['loadavg_start'][0]:.1f} at start, {m['loadavg_end'][0]:.1f} at end.",
        f"QNN: {QUBITS} qubits, <Z_i> readout, {TOKENS} tokens; value + grad w.r.t. weights and "
        "inputs. Per round the median of the calls; the table: median over rounds (all rounds "
        "listed), ratio to one chunk (< 1: faster), and the largest difference of the value "
        "and gradients from the unchunked run.",
        "",
        "| QNN layers | rows per chunk | chunks | ms (median of rounds) | rounds ms "
        "| vs one chunk | max abs diff |",
        "|---:|---:|---:|---:|---|---:|---:|",
    ]
    for layers_rows in out["results"].values():
        base = layers_rows[0]["median_ms"]
        for r in layers_rows:
            rounds = ", ".join(f"{t:.1f}" for t in r["round_ms"])
            lines.append(
                f"| {r['layers']} | {r['rows']} | {-(-TOKENS // r['rows'])} | "
                f"{r['median_ms']:.2f} | {rounds} | {r['median_ms'] / base:.2f} | "
                f"{r['max_abs_diff']:.1e} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, nargs="+", default=[2], help="QNN layers to measure")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=40, help="calls per configuration and round")
    args = p.parse_args(argv)
    start = os.getloadavg()
    results = {str(layers): measure(layers, args.rounds, args.reps) for layers in args.layers}
    given = sys.argv[1:] if argv is None else argv
    out = {"meta": run_meta(" ".join(["python benchmarks/bench_qnn_chunks.py", *given]), start),
           "results": results}
    write_results(RESULTS, "qnn_chunks", out, render(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
