"""Circuits per second of every executor on the same circuits.

Executors: qtn's JAX ``exact`` (probabilities), ``sampled`` (1,000 shots) and ``noisy``
(wukong72 noise: density matrix up to 10 qubits, 100 trajectories above; 1,000 shots), and the
SDK executors through the same interface (``jax.pure_callback`` -> job runner -> SDK, result
cache in memory, every timed batch new circuits): ``pyqpanda3`` CPUQVM and ``qiskit-aer``,
1,000 seeded shots, noiseless and with wukong72's noise (density matrix; SDK rows above 10
qubits are skipped: the executors refuse them).

Circuits: the paper's per-token QNN with r = 4 and r = 8 qubits (L = r layers, inputs random
per circuit), and a 12-qubit depth-4 ``probs`` core (HEA RY + CZ chain: SmolLM2 q_proj's
measured core at bond 8). A batch of B distinct circuits per call; B grows until a call takes
>= ``--min-time`` seconds (capped); the rate is B / the best of ``--repeats`` calls after a
warm-up call (compilation excluded). The machine's CPU model, vector extensions (AVX2,
AVX-512, AMX from /proc/cpuinfo) and load average are recorded.

    python benchmarks/bench_executors.py           # writes benchmarks/results/executors.{json,md}
    python benchmarks/bench_executors.py --quick   # small batches, fewer rows
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
import numpy as np

from qtn.quantum import ansatz_circuit, qnn_circuit
from qtn.quantum.config import QuantumConfig, make_executor
from qtn.tn import CircuitSpec

RESULTS = Path(__file__).parent / "results"
SHOTS = 1000
EXTENSIONS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile",
              "amx_bf16", "amx_int8", "fma")


def cpu_info() -> dict:
    """Model name and the vector extensions among the CPU flags (Linux /proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and ":" in line:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {"model": model, "cores": os.cpu_count(),
            "vector_extensions": [e for e in EXTENSIONS if e in flags]}


def circuits() -> dict:
    return {
        "QNN r=4 (per token, L=4)": qnn_circuit(4, 4),
        "QNN r=8 (per token, L=8)": qnn_circuit(8, 8),
        "probs core 12 qubits (HEA depth 4)": ansatz_circuit(CircuitSpec(4, readout="probs"), 12),
    }


def executors(quick: bool) -> dict:
    wukong = {"device": "wukong72"}
    rows = {
        "exact (JAX)": QuantumConfig(executor="exact"),
        "sampled (JAX, 1000 shots)": QuantumConfig(executor="sampled", shots=SHOTS),
        "noisy wukong72 (JAX, 1000 shots)": QuantumConfig(executor="noisy", shots=SHOTS, **wukong),
        "pyqpanda3 CPUQVM (1000 shots)": QuantumConfig(executor="pyqpanda3", shots=SHOTS),
        "qiskit-aer (1000 shots)": QuantumConfig(executor="qiskit-aer", shots=SHOTS),
        "pyqpanda3 CPUQVM + wukong72 noise (1000 shots)": QuantumConfig(
            executor="pyqpanda3", shots=SHOTS, **wukong),
        "qiskit-aer + wukong72 noise (1000 shots)": QuantumConfig(
            executor="qiskit-aer", shots=SHOTS, **wukong),
    }
    if quick:
        rows = {k: v for k, v in rows.items() if "noise" not in k or "JAX" in k}
    return rows


def measure(executor, circuit, *, min_time: float, max_batch: int, repeats: int) -> dict:
    """Circuits per second of ``executor`` on batches of distinct ``circuit`` instances."""
    rng = np.random.default_rng(0)
    call = jax.jit(lambda a, k: executor.probabilities(circuit, a, k))
    key = jax.random.key(0)

    def run(batch: int) -> float:
        angles = jnp.asarray(rng.uniform(-np.pi, np.pi, (batch, circuit.n_slots)), jnp.float32)
        t0 = time.perf_counter()
        call(angles, key).block_until_ready()
        return time.perf_counter() - t0

    batch = 4
    run(batch)  # compile
    while True:
        elapsed = run(batch)
        if elapsed >= min_time or batch >= max_batch:
            break
        batch = min(max_batch, batch * max(2, int(min_time / max(elapsed, 1e-3))))
        run(batch)  # compile the new shape
    best = min([elapsed] + [run(batch) for _ in range(repeats - 1)])
    return {"batch": batch, "seconds": best, "circuits_per_s": batch / best}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    min_time = 0.2 if args.quick else args.min_time
    rows = []
    t_start = time.perf_counter()
    for cname, circuit in circuits().items():
        for ename, config in executors(args.quick).items():
            sdk = config.executor in ("pyqpanda3", "qiskit-aer")
            ex = make_executor(config)
            try:
                ex.check(circuit)
            except ValueError as err:
                rows.append({"circuit": cname, "executor": ename, "skipped": str(err)})
                print(f"{cname:38s} {ename:48s} skipped: {str(err)[:60]}", flush=True)
                continue
            max_batch = 4096 if not sdk else (256 if circuit.n_qubits <= 8 else 64)
            if "noisy" in ename and circuit.n_qubits > 10:
                max_batch = 16
            r = measure(ex, circuit, min_time=min_time, max_batch=max_batch,
                        repeats=args.repeats)
            rows.append({"circuit": cname, "executor": ename, "qubits": circuit.n_qubits,
                         "gates": len(circuit.gates), **r})
            print(f"{cname:38s} {ename:48s} {r['circuits_per_s']:10.1f} circuits/s "
                  f"(batch {r['batch']})", flush=True)
    meta = {
        "cpu": cpu_info(),
        "load_average": os.getloadavg(),
        "jax": jax.__version__,
        "versions": _versions(),
        "shots": SHOTS,
        "wall_s": time.perf_counter() - t_start,
        "command": "python benchmarks/bench_executors.py" + (" --quick" if args.quick else ""),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "executors.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (out / "executors.md").write_text(to_markdown(meta, rows))
    print(f"wrote {out / 'executors.json'} and {out / 'executors.md'}")
    return 0


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("pyqpanda3", "qiskit", "qiskit-aer"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def to_markdown(meta: dict, rows: list[dict]) -> str:
    cpu = meta["cpu"]
    lines = [
        "# Executors: circuits per second",
        "",
        f"Generated by `{meta['command']}`. CPU: {cpu['model']} ({cpu['cores']} cores; vector "
        f"extensions: {', '.join(cpu['vector_extensions']) or 'none found'}); load average "
        + ", ".join(f"{v:.1f}" for v in meta["load_average"])
        + f" (a shared machine: compare rows of one run, not runs). JAX {meta['jax']}, "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + f". {meta['shots']} shots where sampled. SDK rows include the host callback, circuit "
        "hashing, job bookkeeping, building the SDK circuits and seeded sampling.",
        "",
        "| circuit | executor | qubits | batch | circuits / s |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['circuit']} | {r['executor']} | - | - | skipped: "
                         f"{r['skipped'].split(';')[0]} |")
        else:
            lines.append(f"| {r['circuit']} | {r['executor']} | {r['qubits']} | {r['batch']} | "
                         f"{r['circuits_per_s']:,.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
