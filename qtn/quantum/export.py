"""Trained circuits as files a QPU toolchain reads: OpenQASM 2.0, OriginIR, OpenQASM 3 templates.

Writers (text; qubit q of a qtn circuit is qubit ``q[q]`` of the file, measured into ``c[q]``;
the bit order of results is the SDKs' little-endian one, see ``qtn.quantum.bitorder``):

- :func:`to_qasm2` — one concrete circuit in OpenQASM 2.0 (``qelib1.inc``: ``ry``, ``rx``,
  ``rz``, ``crz``, ``cz``, ``cx``; same angle conventions as qtn), read by
  ``qiskit.qasm2.loads`` and ``pyqpanda3.intermediate_compiler.convert_qasm_string_to_qprog``;
- :func:`to_originir` — the same circuit in OriginIR (Origin Quantum's format: ``QINIT``,
  ``CREG``, ``RY q[0],(a)``, a CRZ as ``CONTROL q[c]`` / ``RZ q[t],(a)`` / ``ENDCONTROL``, as
  pyqpanda3 writes it), read by ``convert_originir_string_to_qprog``;
- :func:`to_qasm3_template` — a data-encoded circuit (the per-token QNN) with its trained
  weights as numbers and its inputs as named parameters ``input float[64] h0;`` ... (an angle
  that sums a weight and an input is written ``w + hj``).

Angles are written in fixed-point with 16 decimals (no exponents, exact to float64 round-off).

:func:`export_circuits` writes every :class:`CircuitExport` of a model to a folder with a JSON
manifest (:data:`MANIFEST`): per circuit the module, label, qubits, weights, slot angles (or the
inputs given), the measured observable and the files written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qtn.quantum.circuit import Circuit

MANIFEST = "manifest.json"
OBSERVABLES = {
    "probs": "all 2^n basis-state probabilities (Z-basis counts of every qubit)",
    "expval": "<Z^s> for every Z-string s, from the Z-basis counts of every qubit",
    "z": "<Z_q> of every qubit, from the Z-basis counts",
}
_QASM2_NAMES = {"ry": "ry", "rx": "rx", "rz": "rz", "crz": "crz", "cz": "cz", "cnot": "cx"}
_ORIGINIR_NAMES = {"ry": "RY", "rx": "RX", "rz": "RZ", "cz": "CZ", "cnot": "CNOT"}


def _num(value: float) -> str:
    text = f"{float(value):.16f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def slot_angles_np(circuit: Circuit, weights, inputs=None) -> np.ndarray:
    """``Circuit.slot_angles`` of one circuit in float64 numpy: ``weights: (n_weights,)``,
    ``inputs: (n_inputs,)`` -> (n_slots,)."""
    w = np.asarray(weights, np.float64).reshape(-1)
    x = np.zeros(0) if inputs is None else np.asarray(inputs, np.float64).reshape(-1)
    if w.shape != (circuit.n_weights,) or x.shape != (circuit.n_inputs,):
        raise ValueError(f"{circuit.name}: got {w.size} weights and {x.size} inputs, expected "
                         f"{circuit.n_weights} and {circuit.n_inputs}")
    out = []
    for i in circuit.slots:
        g = circuit.gates[i]
        out.append((w[g.weight] if g.weight >= 0 else 0.0) + (x[g.input] if g.input >= 0 else 0.0))
    return np.asarray(out, np.float64)


def _slots(circuit: Circuit, slot_angles) -> np.ndarray:
    a = np.asarray(slot_angles, np.float64).reshape(-1)
    if a.shape != (circuit.n_slots,):
        raise ValueError(f"{circuit.name}: got {a.size} slot angles, expected {circuit.n_slots}")
    return a


def to_qasm2(circuit: Circuit, slot_angles: Sequence[float], *, measure: bool = True) -> str:
    """OpenQASM 2.0 text of the circuit at ``slot_angles: (n_slots,)`` (``Circuit.slot_angles``
    of one circuit)."""
    a = _slots(circuit, slot_angles)
    n = circuit.n_qubits
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{n}];", f"creg c[{n}];"]
    slot = 0
    for g in circuit.gates:
        qubits = ",".join(f"q[{q}]" for q in g.qubits)
        name = _QASM2_NAMES[g.name]
        if g.kind.parameterized:
            lines.append(f"{name}({_num(a[slot])}) {qubits};")
            slot += 1
        else:
            lines.append(f"{name} {qubits};")
    if measure:
        lines += [f"measure q[{q}] -> c[{q}];" for q in range(n)]
    return "\n".join(lines) + "\n"


def to_originir(circuit: Circuit, slot_angles: Sequence[float], *, measure: bool = True) -> str:
    """OriginIR text of the circuit at ``slot_angles: (n_slots,)``."""
    a = _slots(circuit, slot_angles)
    n = circuit.n_qubits
    lines = [f"QINIT {n}", f"CREG {n}"]
    slot = 0
    for g in circuit.gates:
        if g.name == "crz":
            c, t = g.qubits
            lines += [f"CONTROL q[{c}]", f"RZ q[{t}],({_num(a[slot])})", "ENDCONTROL"]
            slot += 1
        elif g.kind.parameterized:
            lines.append(f"{_ORIGINIR_NAMES[g.name]} q[{g.qubits[0]}],({_num(a[slot])})")
            slot += 1
        else:
            lines.append(f"{_ORIGINIR_NAMES[g.name]} " + ",".join(f"q[{q}]" for q in g.qubits))
    if measure:
        lines += [f"MEASURE q[{q}],c[{q}]" for q in range(n)]
    return "\n".join(lines) + "\n"


def to_qasm3_template(circuit: Circuit, weights: Sequence[float], *,
                      input_prefix: str = "h", measure: bool = True) -> str:
    """OpenQASM 3 text of a data-encoded circuit: trained ``weights: (n_weights,)`` as numbers,
    input j as ``input float[64] {input_prefix}{j};``."""
    w = np.asarray(weights, np.float64).reshape(-1)
    if w.shape != (circuit.n_weights,):
        raise ValueError(f"{circuit.name}: got {w.size} weights, expected {circuit.n_weights}")
    n = circuit.n_qubits
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";']
    lines += [f"input float[64] {input_prefix}{j};" for j in range(circuit.n_inputs)]
    lines += [f"qubit[{n}] q;", f"bit[{n}] c;"]
    for g in circuit.gates:
        qubits = ", ".join(f"q[{q}]" for q in g.qubits)
        name = _QASM2_NAMES[g.name]
        if g.kind.parameterized:
            terms = ([_num(w[g.weight])] if g.weight >= 0 else []) + (
                [f"{input_prefix}{g.input}"] if g.input >= 0 else []
            )
            lines.append(f"{name}({' + '.join(terms)}) {qubits};")
        else:
            lines.append(f"{name} {qubits};")
    if measure:
        lines.append("c = measure q;")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CircuitExport:
    """One trained circuit of a model: ``weights: (n_weights,)``; ``per_token`` circuits take
    per-token inputs; ``observable`` is what the layer computes from its counts (a key of
    :data:`OBSERVABLES`)."""

    module: str
    label: str
    circuit: Circuit
    weights: np.ndarray
    per_token: bool
    observable: str = "probs"

    @property
    def stem(self) -> str:
        """A file-name stem from the module path and label."""
        text = f"{self.module}__{self.label}"
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def export_circuits(
    items: Sequence[CircuitExport],
    out_dir: str | Path,
    inputs: Sequence[Sequence[float]] | Mapping[str, Sequence[Sequence[float]]] | None = None,
) -> dict[str, Any]:
    """Write every circuit of ``items`` to ``out_dir`` and return the manifest (also written to
    ``out_dir/manifest.json``).

    Circuits without inputs: ``<stem>.qasm`` (OpenQASM 2.0) and ``<stem>.originir``.
    Data-encoded circuits: ``<stem>.template.qasm`` (OpenQASM 3, inputs as parameters) and, for
    each input vector given, ``<stem>.input<k>.qasm`` / ``.originir``. ``inputs``: a list of
    input vectors (used by every data-encoded circuit with that many inputs), or a mapping from
    module path (or ``module/label``) to such a list.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    stems: set[str] = set()
    for item in items:
        c = item.circuit
        if item.observable not in OBSERVABLES:
            raise ValueError(f"{item.module} {item.label}: observable must be one of "
                             f"{sorted(OBSERVABLES)}, got {item.observable!r}")
        if item.stem in stems:
            raise ValueError(f"two circuits export to the same file stem {item.stem!r}")
        stems.add(item.stem)
        weights = np.asarray(item.weights, np.float64).reshape(-1)
        record: dict[str, Any] = {
            "module": item.module,
            "label": item.label,
            "circuit": c.name,
            "per_token": item.per_token,
            "qubits": c.n_qubits,
            "gates": len(c.gates),
            "two_qubit_gates": c.two_qubit_gates(),
            "depth": c.depth(),
            "n_weights": c.n_weights,
            "n_inputs": c.n_inputs,
            "weights": weights.tolist(),
            "observable": item.observable,
            "measured": OBSERVABLES[item.observable],
            "bit_order": "qubit q is q[q], measured into c[q]; SDK count keys put c[0] "
                         "rightmost",
            "files": {},
        }
        if c.n_inputs == 0:
            angles = slot_angles_np(c, weights)
            record["slot_angles"] = angles.tolist()
            record["files"]["qasm2"] = _write(out, f"{item.stem}.qasm", to_qasm2(c, angles))
            record["files"]["originir"] = _write(out, f"{item.stem}.originir",
                                                 to_originir(c, angles))
        else:
            record["files"]["qasm3_template"] = _write(
                out, f"{item.stem}.template.qasm", to_qasm3_template(c, weights)
            )
            vectors = _inputs_for(item, inputs)
            record["inputs"] = [list(map(float, v)) for v in vectors]
            record["files"]["qasm2"], record["files"]["originir"] = [], []
            for k, vector in enumerate(vectors):
                angles = slot_angles_np(c, weights, vector)
                record["files"]["qasm2"].append(
                    _write(out, f"{item.stem}.input{k}.qasm", to_qasm2(c, angles)))
                record["files"]["originir"].append(
                    _write(out, f"{item.stem}.input{k}.originir", to_originir(c, angles)))
        records.append(record)
    manifest = {"format": "qtn-circuits/1", "circuits": records}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _inputs_for(item: CircuitExport, inputs) -> list[np.ndarray]:
    if inputs is None:
        return []
    if isinstance(inputs, Mapping):
        vectors = inputs.get(f"{item.module}/{item.label}", inputs.get(item.module, []))
    else:
        vectors = inputs
    out = []
    for k, v in enumerate(vectors):
        v = np.asarray(v, np.float64).reshape(-1)
        if v.shape != (item.circuit.n_inputs,):
            raise ValueError(
                f"{item.module} {item.label}: input vector {k} has {v.size} values, the "
                f"circuit takes {item.circuit.n_inputs}"
            )
        out.append(v)
    return out


def _write(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text)
    return name
