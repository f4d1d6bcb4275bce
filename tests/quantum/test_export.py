"""Export: every written file, read back by qiskit and pyqpanda3, gives qtn's probabilities."""

import json
import re

import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum import (
    CircuitExport,
    ansatz_circuit,
    exact_probabilities,
    export_circuits,
    qnn_circuit,
    to_qasm3_template,
)
from qtn.quantum.bitorder import little_to_qtn
from qtn.quantum.export import slot_angles_np
from qtn.tn import CircuitSpec

qiskit = pytest.importorskip("qiskit")
pytest.importorskip("pyqpanda3.core")

from pyqpanda3 import core  # noqa: E402
from pyqpanda3 import intermediate_compiler as ic  # noqa: E402
from qiskit.quantum_info import Statevector  # noqa: E402

QNN = qnn_circuit(3, 2)
CORE = ansatz_circuit(CircuitSpec(2, "general", "cnot", "brickwork", readout="probs"), 4)


def _items():
    rng = np.random.default_rng(0)
    return [
        CircuitExport("layers.0.q_proj", "site 1 (probs readout)", CORE,
                      rng.uniform(-3, 3, CORE.n_weights), False, "probs"),
        CircuitExport("layers.0.v_proj", "qnn", QNN, rng.uniform(-3, 3, QNN.n_weights),
                      True, "z"),
    ]


def _qiskit_probs(text: str) -> np.ndarray:
    qc = qiskit.qasm2.loads(text).remove_final_measurements(inplace=False)
    return little_to_qtn(Statevector(qc).probabilities())


def _pyqpanda_probs(prog, n: int) -> np.ndarray:
    bare = core.QProg()
    for op in prog.gate_operations():  # drop the measurements: exact probabilities
        bare << op
    qvm = core.CPUQVM()
    qvm.run(bare, 1)
    return little_to_qtn(np.asarray(qvm.result().get_prob_list(list(range(n)))))


def test_every_exported_file_gives_qtn_probabilities(tmp_path, x64):
    items = _items()
    inputs = np.random.default_rng(1).uniform(-2, 2, (2, QNN.n_inputs))
    manifest = export_circuits(items, tmp_path, inputs.tolist())
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    core_rec, qnn_rec = manifest["circuits"]
    assert core_rec["files"] == {"qasm2": f"{items[0].stem}.qasm",
                                 "originir": f"{items[0].stem}.originir"}
    assert qnn_rec["files"]["qasm3_template"].endswith(".template.qasm")
    assert len(qnn_rec["files"]["qasm2"]) == len(qnn_rec["files"]["originir"]) == 2
    assert core_rec["observable"] == "probs" and qnn_rec["observable"] == "z"
    assert qnn_rec["qubits"] == 3 and qnn_rec["inputs"] == inputs.tolist()
    cases = [(items[0], None, core_rec["files"]["qasm2"], core_rec["files"]["originir"])]
    cases += [(items[1], inputs[k], qnn_rec["files"]["qasm2"][k],
               qnn_rec["files"]["originir"][k]) for k in range(2)]
    checked = 0
    for item, x, qasm_file, oir_file in cases:
        c = item.circuit
        angles = slot_angles_np(c, item.weights, x)
        expected = np.asarray(exact_probabilities(c, jnp.asarray(angles)[None]))[0]
        qasm = (tmp_path / qasm_file).read_text()
        oir = (tmp_path / oir_file).read_text()
        got = [
            _qiskit_probs(qasm),
            _pyqpanda_probs(ic.convert_qasm_string_to_qprog(qasm), c.n_qubits),
            _pyqpanda_probs(ic.convert_originir_string_to_qprog(oir), c.n_qubits),
        ]
        for p in got:
            assert np.abs(p - expected).max() < 1e-6
            checked += 1
    assert checked == 9


def test_qasm3_template_binds_to_the_concrete_circuit(tmp_path):
    """Substituting the inputs into the template's angles gives the OpenQASM 2.0 file's."""
    item = _items()[1]
    x = np.array([0.25, -1.5, 2.0])
    text = to_qasm3_template(QNN, item.weights)
    assert [line for line in text.splitlines() if line.startswith("input")] == [
        "input float[64] h0;", "input float[64] h1;", "input float[64] h2;"]
    angles = []
    for expr in re.findall(r"^(?:ry|crz)\(([^)]*)\)", text, flags=re.M):
        total = 0.0
        for term in expr.split(" + "):
            total += x[int(term[1:])] if term.startswith("h") else float(term)
        angles.append(total)
    np.testing.assert_allclose(angles, slot_angles_np(QNN, item.weights, x), atol=1e-12)
    assert "ry(h0) q[0];" in text and text.rstrip().endswith("c = measure q;")


def test_export_errors_name_the_problem(tmp_path):
    items = _items()
    with pytest.raises(ValueError, match="input vector 0 has 2 values, the circuit takes 3"):
        export_circuits(items, tmp_path, [[0.1, 0.2]])
    with pytest.raises(ValueError, match="same file stem"):
        export_circuits([items[0], items[0]], tmp_path)
    bad = CircuitExport("m", "c", CORE, items[0].weights, False, "amplitudes")
    with pytest.raises(ValueError, match="observable must be one of"):
        export_circuits([bad], tmp_path)
    manifest = export_circuits(items, tmp_path / "by_module", {"layers.0.v_proj": [[0, 0, 0]]})
    assert manifest["circuits"][1]["inputs"] == [[0.0, 0.0, 0.0]]
    assert export_circuits(items, tmp_path / "none")["circuits"][1]["files"]["qasm2"] == []
