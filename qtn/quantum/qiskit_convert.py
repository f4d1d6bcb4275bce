"""qtn circuits as qiskit ``QuantumCircuit`` s (optional extra ``qtn[qiskit]``).

Qubit q of a qtn circuit is qiskit's qubit q (bit order: ``qtn.quantum.bitorder``). Gate names
map one to one (``ry``, ``rx``, ``rz``, ``crz``, ``cz``, ``cnot`` -> ``cx``) with the same
angle conventions. ``to_qiskit`` binds concrete angles; ``to_qiskit_slots`` takes one angle
per parameterized gate (the executors' slot angles); ``to_qiskit_template`` keeps them as
qiskit ``Parameter`` s named ``w{i}`` (weights) and ``x{j}`` (inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

from qtn.quantum.circuit import Circuit


def _angle(gate, weights, inputs):
    angle = 0
    if gate.weight >= 0:
        angle = angle + weights[gate.weight]
    if gate.input >= 0:
        angle = angle + inputs[gate.input]
    return angle


def _build(circuit: Circuit, weights, inputs, measure: bool, slot_angles=None):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(circuit.n_qubits, circuit.n_qubits if measure else 0)
    slot = 0
    for g in circuit.gates:
        if g.name == "cnot":
            qc.cx(*g.qubits)
        elif g.name == "cz":
            qc.cz(*g.qubits)
        else:
            angle = _angle(g, weights, inputs) if slot_angles is None else slot_angles[slot]
            slot += 1
            getattr(qc, g.name)(angle, *g.qubits)
    if measure:
        qc.measure(range(circuit.n_qubits), range(circuit.n_qubits))
    return qc


def to_qiskit(circuit: Circuit, weights: Sequence[float], inputs: Sequence[float] = (), *,
              measure: bool = True):
    """One concrete circuit (``weights: (n_weights,)``, ``inputs: (n_inputs,)``) as a qiskit
    ``QuantumCircuit``, measured into classical bit q per qubit q when ``measure``."""
    w = [float(v) for v in weights]
    x = [float(v) for v in inputs]
    if len(w) != circuit.n_weights or len(x) != circuit.n_inputs:
        raise ValueError(
            f"{circuit.name}: got {len(w)} weights and {len(x)} inputs, expected "
            f"{circuit.n_weights} and {circuit.n_inputs}"
        )
    return _build(circuit, w, x, measure)


def to_qiskit_slots(circuit: Circuit, slot_angles: Sequence[float], *, measure: bool = True):
    """One concrete circuit from its slot angles (``(n_slots,)``, one per parameterized gate
    in time order: ``Circuit.slot_angles``) as a qiskit ``QuantumCircuit``."""
    a = [float(v) for v in slot_angles]
    if len(a) != circuit.n_slots:
        raise ValueError(f"{circuit.name}: got {len(a)} slot angles, expected {circuit.n_slots}")
    return _build(circuit, (), (), measure, slot_angles=a)


def to_qiskit_template(circuit: Circuit, *, measure: bool = True):
    """The template with qiskit ``Parameter`` s ``w{i}`` / ``x{j}`` in place of angles."""
    from qiskit.circuit import Parameter

    w = [Parameter(f"w{i}") for i in range(circuit.n_weights)]
    x = [Parameter(f"x{j}") for j in range(circuit.n_inputs)]
    return _build(circuit, w, x, measure)
