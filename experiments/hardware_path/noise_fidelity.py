"""How much of each hardware-path circuit survives the wukong72 noise model.

For the two circuits the experiment trains through (the paper's QNN, r = 4 qubits, 2 layers;
circuit-MPO's 12-qubit probs core, depth 4), at random angles: the native gate counts and the
total-variation distance of the noisy measured distribution (gate noise + readout, no shots)
from the exact one and from the uniform distribution. A distribution near uniform carries no
signal for training, whatever the shots.

    .venv/bin/python experiments/hardware_path/noise_fidelity.py
    # -> experiments/hardware_path/noise_fidelity.md (+ results/noise_fidelity.json)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np

from qtn.quantum import ansatz_circuit, exact_probabilities, get_device, native_counts, qnn_circuit
from qtn.quantum.noise import noisy_probabilities
from qtn.tn import CircuitSpec

HERE = Path(__file__).parent


def measure(name: str, circuit, device, *, circuits: int, trajectories: int, seed: int) -> dict:
    """TV distances (mean and range over ``circuits`` random angle rows)."""
    angles = jax.random.uniform(jax.random.key(seed), (circuits, circuit.n_slots),
                                minval=-np.pi, maxval=np.pi)
    exact = np.asarray(exact_probabilities(circuit, angles))
    noisy = np.asarray(noisy_probabilities(circuit, angles, device, key=jax.random.key(seed + 1),
                                           trajectories=trajectories))
    uniform = np.full_like(exact, 1.0 / exact.shape[1])

    def tv(p, q):
        return 0.5 * np.abs(p - q).sum(axis=1)

    method = ("density matrix" if circuit.n_qubits <= 10
              else f"{trajectories} trajectories per circuit")
    rows = {"noisy_vs_exact": tv(noisy, exact), "noisy_vs_uniform": tv(noisy, uniform),
            "exact_vs_uniform": tv(exact, uniform)}
    out = {"circuit": name, "qubits": circuit.n_qubits, **native_counts(circuit),
           "simulation": method, "circuits": circuits}
    out.update({k: [float(v.mean()), float(v.min()), float(v.max())] for k, v in rows.items()})
    return out


def render(res: list[dict], device: str) -> str:
    lines = [
        f"# Noise vs signal on `{device}` (`python experiments/hardware_path/noise_fidelity.py`)",
        "",
        "Total-variation distance (mean, min-max over random angle rows) of the measured "
        "distribution (gate noise + readout confusion, no shots) from the exact one and from "
        "uniform. Near uniform = nothing left to learn from.",
        "",
        "| circuit | qubits | U3 | CZ | depth | simulation | TV(noisy, exact) | "
        "TV(noisy, uniform) | TV(exact, uniform) |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in res:
        cells = [f"{m:.3f} ({lo:.3f}-{hi:.3f})" for m, lo, hi in
                 (r["noisy_vs_exact"], r["noisy_vs_uniform"], r["exact_vs_uniform"])]
        lines.append(f"| {r['circuit']} | {r['qubits']} | {r['u3']} | {r['cz']} | {r['depth']} "
                     f"| {r['simulation']} | " + " | ".join(cells) + " |")
    lines += ["", "The trajectory estimate keeps Monte-Carlo noise of its own (a finite mean of "
              "pure states): its distance from uniform is an upper bound.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="wukong72")
    ap.add_argument("--circuits", type=int, default=8, help="random angle rows per circuit")
    ap.add_argument("--trajectories", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "noise_fidelity.md")
    args = ap.parse_args()
    device = get_device(args.device)
    core = ansatz_circuit(CircuitSpec(4, readout="probs"), 12)
    cases = [("QTHA QNN (r=4, 2 layers)", qnn_circuit(4, 2)),
             ("circuit-MPO probs core (depth 4)", core)]
    res = [measure(name, c, device, circuits=args.circuits, trajectories=args.trajectories,
                   seed=args.seed) for name, c in cases]
    data = args.out.parent / "results" / (args.out.stem + ".json")
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text(json.dumps(res, indent=1) + "\n")
    args.out.write_text(render(res, args.device))
    print(render(res, args.device))


if __name__ == "__main__":
    main()
