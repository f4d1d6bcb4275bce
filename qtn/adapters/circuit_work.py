"""The quantum work of an adapter layer from shapes alone: what its circuits are and how many a
QPU would run per forward and per training step with the parameter-shift rule.

- The paper's QTHA (``qtha``): one r-qubit QNN circuit **per token**, so a forward runs
  ``tokens`` circuits and a training step with parameter shift ``tokens × (1 + S)``, where
  ``S = qtn.quantum.shifted_circuits(circuit)``: 2 shifted circuits per RY slot and 4 per CRZ
  slot (CRZ's generator has eigenvalues {0, ±1/2}: the four-term rule), input-encoding slots
  included (their shifts carry the gradient back to MLP_A / MPO_A). The QNN has 3 r L RY slots
  (r L of them encoding) and 2 r L CRZ slots: ``S = 14 r L``. The two-term count
  ``1 + 2·(trainable angles)`` would say ``1 + 8 r L`` per token.
- The weight-space hybrid (``circuit_mpo``): a measured circuit core (``readout: probs |
  expval``) is one circuit per forward **whatever the batch**, ``1 + S`` per training step;
  a ``unitary`` core is an amplitude-level network, simulated only (no circuit a QPU can run).

``simulation_flops`` estimates the multiply-adds of qtn's state-vector simulation of one
circuit (qtn.quantum.statevector's fused blocks).
"""

from __future__ import annotations

import math
from typing import Any

from qtn.quantum.bill import CircuitUse
from qtn.quantum.circuit import Circuit, ansatz_circuit, qnn_circuit
from qtn.quantum.gradients import shifted_circuits
from qtn.quantum.statevector import compile_blocks
from qtn.tn import CircuitSpec


def simulation_flops(circuit: Circuit) -> int:
    """Multiply-adds of one exact state-vector simulation plus <Z_q> (an estimate: a rotation
    block is two matmuls on the state reshaped (2^h, 2^(n-h)), h = n // 2; a diagonal block one
    phase per amplitude and gate)."""
    n, dim = circuit.n_qubits, circuit.dim
    h = n // 2
    total = dim * (n + 1)  # probabilities and the <Z_q> readout
    for block in compile_blocks(circuit):
        if block.action == "rotation":
            total += dim * (2**h + 2 ** (n - h))
        elif block.action == "diagonal":
            total += dim * (len(block.gate_ids) + 1)
        else:
            total += dim
    return total


def _gate_counts(circuit: Circuit) -> dict[str, int]:
    slots = [circuit.gates[i] for i in circuit.slots]
    return {
        "qubits": circuit.n_qubits,
        "gate_depth": circuit.depth(),
        "two_qubit_gates": circuit.two_qubit_gates(),
        "rotations": sum(g.kind.n_qubits == 1 for g in slots),
        "trainable_angles": circuit.n_weights,
        "input_angles": sum(g.input >= 0 for g in slots),
        "shifted_circuits": shifted_circuits(circuit),
    }


def qnn_work(circuit: Circuit, tokens: int) -> dict[str, Any]:
    """The per-token QNN of a ``qtha`` layer at ``tokens`` tokens per step."""
    counts = _gate_counts(circuit)
    return {
        "circuit": "qnn",
        **counts,
        "layers": circuit.n_weights // (4 * circuit.n_qubits),
        "per_token": True,
        "measured": True,
        "circuits_per_forward": tokens,
        "circuits_per_step": tokens * (1 + counts["shifted_circuits"]),
        "two_term_circuits_per_step": tokens * (1 + 2 * circuit.n_weights),
        "simulation_flops": simulation_flops(circuit),
    }


def core_work(site: int, spec: CircuitSpec, n: int) -> dict[str, Any]:
    """A ``circuit_mpo`` circuit core at ``site`` on ``n`` qubits (batch-independent)."""
    circuit = ansatz_circuit(spec, n)
    counts = _gate_counts(circuit)
    runs = 1 if spec.measured else 0
    return {
        "circuit": f"site {site}",
        "site": site,
        "depth": spec.depth,
        **counts,
        "ansatz": spec.ansatz,
        "entangler": spec.entangler,
        "pattern": spec.pattern,
        "readout": spec.readout,
        "angles": math.prod(spec.angle_shape(n)),
        "per_token": False,
        "measured": spec.measured,
        "circuits_per_forward": runs,
        "circuits_per_step": runs * (1 + counts["shifted_circuits"]),
    }


def work_line(name: str, c: dict[str, Any]) -> str:
    """One markdown bullet for a circuit dict of :func:`qnn_work` / :func:`core_work`."""
    gates = (
        f"{c['qubits']} qubits, gate depth {c['gate_depth']}, {c['two_qubit_gates']} "
        f"two-qubit gates, {c['rotations']} single-qubit rotations, "
        f"{c['trainable_angles']} trainable + {c['input_angles']} input angles"
    )
    if c["per_token"]:
        return (
            f"- {name} {c['circuit']} ({c['layers']} layers): {gates}; one circuit per token: "
            f"{c['circuits_per_forward']:,} per forward; parameter shift S = "
            f"{c['shifted_circuits']:,} (2 per RY slot, 4 per CRZ slot) -> tokens x (1 + S) = "
            f"{c['circuits_per_step']:,} circuits per training step (the two-term count "
            f"tokens x (1 + 2·angles) would be {c['two_term_circuits_per_step']:,})"
        )
    kind = f"{c['ansatz']} depth {c['depth']}, {c['entangler']} {c['pattern']}"
    head = f"- {name} {c['circuit']}: {gates} ({kind})"
    if not c["measured"]:
        return f"{head}, readout unitary: amplitudes, simulated only (no QPU circuit)"
    return (
        f"{head}, readout {c['readout']}: 1 circuit per forward whatever the batch; parameter "
        f"shift 1 + S = {c['circuits_per_step']:,} circuits per training step"
    )


def circuit_uses(method: str, path: str, cfg: Any, d_in: int, d_out: int) -> list[CircuitUse]:
    """The circuits a module adapted by ``method`` (config ``cfg``) sends to a QPU, for the
    quantum bill: the QNN per token (``qtha`` archs with C), each measured core once per
    forward (``circuit_mpo``); unitary cores and classical methods none."""
    if method == "qtha":
        if "qnn" not in cfg.parts:
            return []
        return [CircuitUse(path, "qnn", qnn_circuit(cfg.r, cfg.qnn_layers or cfg.r), True)]
    if method == "circuit_mpo":
        skel = cfg.skeleton(d_in, d_out)
        return [
            CircuitUse(
                path, f"site {k} ({spec.readout})", ansatz_circuit(spec, skel.n_qubits(k)), False
            )
            for k, spec in skel.circuits
            if spec.measured
        ]
    return []
