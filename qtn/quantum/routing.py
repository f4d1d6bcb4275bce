"""Routing on a device's coupling graph with qiskit's transpiler (optional extra
``qtn[qiskit]``; ``qtn.quantum.bill`` falls back to unrouted counts without it).

``routed_counts(circuit, device)`` transpiles a concrete instance of the template (angles do
not change gate counts) to the device's native gates U + CZ on its coupling map with a fixed
seed, and returns the CZ count and depth after routing (SWAPs included).
"""

from __future__ import annotations

import functools

import numpy as np

from qtn.quantum.circuit import Circuit
from qtn.quantum.devices import Device


@functools.lru_cache(maxsize=128)
def routed_counts(circuit: Circuit, device: Device, seed: int = 0) -> tuple[int, int]:
    """(CZ gates, depth) of ``circuit`` routed onto ``device`` by qiskit (level 1)."""
    from qiskit import transpile
    from qiskit.transpiler import CouplingMap

    from qtn.quantum.qiskit_convert import to_qiskit

    rng = np.random.default_rng(seed)
    weights = rng.uniform(-np.pi, np.pi, circuit.n_weights)
    inputs = rng.uniform(-np.pi, np.pi, circuit.n_inputs)
    qc = to_qiskit(circuit, weights, inputs, measure=False)
    coupling = None if device.edges is None else CouplingMap(
        [list(e) for e in device.edges] + [[b, a] for a, b in device.edges]
    )
    out = transpile(
        qc,
        coupling_map=coupling,
        basis_gates=["u", "cz"],
        optimization_level=1,
        seed_transpiler=seed,
    )
    ops = out.count_ops()
    return int(ops.get("cz", 0)), int(out.depth())
