"""The quantum bill from shapes, bit order, qiskit conversion and routing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum import (
    ExactExecutor,
    Tracker,
    ansatz_circuit,
    estimate,
    exact_probabilities,
    get_device,
    qnn_circuit,
    shifted_circuits,
)
from qtn.quantum.bill import CircuitUse, step_bill
from qtn.quantum.bitorder import counts_to_qtn_probs, little_to_qtn
from qtn.tn import CircuitSpec

qiskit = pytest.importorskip("qiskit")


def test_bill_counts_per_token_and_weight_space_circuits():
    qnn = qnn_circuit(4, 4)
    core = ansatz_circuit(CircuitSpec(4, readout="probs"), 12)
    uses = [CircuitUse("q_proj", "qnn", qnn, True), CircuitUse("v_proj", "core", core, False)]
    bill = step_bill(uses, tokens_per_step=1024, executor="sampled", gradient="parameter_shift",
                     device=get_device("wukong72"), shots=1000)
    q, c = bill.rows
    s_qnn = shifted_circuits(qnn)
    # per token: 16 encodings + 16 RY x2 two-term, 16 CRZ x2 four-term... = 2*48 + 4*32
    assert s_qnn == 2 * (16 + 32) + 4 * 32
    assert (q.forward_circuits, q.gradient_circuits) == (1024, 1024 * s_qnn)
    assert (c.forward_circuits, c.gradient_circuits) == (1, 2 * 48)
    assert c.jobs == 1 + 1  # forward + one chunk of 96 shifted circuits
    step = bill.step_totals()
    assert step["circuits"] == 1024 * (1 + s_qnn) + 97
    assert step["shots"] == step["circuits"] * 1000
    assert q.two_qubit_gates == 4 * 16 and q.routed.startswith("embedded")
    run = bill.for_run(10, eval_tokens=4096, eval_batches=4)
    assert run["circuits"] == 10 * step["circuits"] + 4096 + 4
    assert "Per training step" in bill.to_markdown(steps=10, eval_tokens=4096, eval_batches=4)


def test_bill_autodiff_and_spsa():
    uses = [CircuitUse("m", "qnn", qnn_circuit(3, 1), True)]
    kw = dict(tokens_per_step=100, executor="exact", device=get_device("ideal"), shots=1)
    assert step_bill(uses, gradient="autodiff", **kw).step_totals()["gradient_circuits"] == 0
    assert step_bill(uses, gradient="spsa", **kw).step_totals()["gradient_circuits"] == 200


def test_bill_routes_odd_rings_with_qiskit():
    bill = step_bill([CircuitUse("m", "qnn", qnn_circuit(3, 2), True)], tokens_per_step=1,
                     executor="noisy", gradient="autodiff", device=get_device("wukong72"),
                     shots=1)
    row = bill.rows[0]
    assert row.routed == "routed by qiskit" and row.two_qubit_gates > 2 * 12  # SWAPs added


def test_counted_equals_estimated():
    """A tracked exact executor on all-distinct inputs counts what the bill estimates."""
    circuit = qnn_circuit(3, 2)
    tracker = Tracker(job_size=7)
    executor = ExactExecutor(tracker=tracker)
    x = jax.random.normal(jax.random.key(0), (20, 3))

    def loss(w):
        return jnp.sum(estimate(executor, circuit, w, x, gradient="parameter_shift"))

    jax.grad(loss)(jnp.zeros(circuit.n_weights))
    counted = tracker.take()
    bill = step_bill([CircuitUse("m", "qnn", circuit, True)], tokens_per_step=20,
                     executor="exact", gradient="parameter_shift", device=get_device("ideal"),
                     shots=1, job_size=7)
    est = bill.step_totals()
    assert counted["circuits"] == est["circuits"]
    assert counted["jobs"] == est["jobs"]


def test_bit_order_round_trip():
    from qiskit.quantum_info import Statevector

    from qtn.quantum.qiskit_convert import to_qiskit

    c = qnn_circuit(3, 1)
    w = np.linspace(-1, 2, c.n_weights)
    x = np.array([0.3, -0.4, 1.1])
    ours = np.asarray(exact_probabilities(c, c.slot_angles(jnp.asarray(w), jnp.asarray(x)[None])))
    theirs = little_to_qtn(Statevector(to_qiskit(c, w, x, measure=False)).probabilities())
    np.testing.assert_allclose(ours[0], theirs, atol=1e-6)
    # counts keyed with qubit 0 rightmost: "001" is qubit 0 set -> qtn index 0b100
    probs = counts_to_qtn_probs({"001": 3, "000": 1}, 3)
    assert probs[4] == 0.75 and probs[0] == 0.25
    with pytest.raises(ValueError, match="expected 3"):
        counts_to_qtn_probs({"01": 1}, 3)
