"""The simulator's fast paths agree with the plain ones: shared rows, product-state start,
input-only circuits, complex rotation blocks, permutations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum import Circuit, Gate, ansatz_circuit, qnn_circuit, simulate
from qtn.tn import CircuitSpec


@pytest.mark.parametrize("n, layers", [(2, 2), (5, 2), (8, 1)])
def test_shared_rows_equal_per_row_simulation_and_gradients(n, layers, x64):
    c = qnn_circuit(n, layers)
    rng = np.random.default_rng(n)
    w = jnp.asarray(rng.uniform(-np.pi, np.pi, c.n_weights))
    x = jnp.asarray(rng.normal(size=(5, n)))

    def loss(w, x, shared):
        psi = simulate(c, c.slot_angles(w, x), shared_rows=shared)
        return jnp.sum(jnp.abs(psi) ** 2 * jnp.cos(jnp.arange(psi.size).reshape(psi.shape)))

    # jitted: op-by-op dispatch of the unrolled gates is far slower than compiling them
    sim = jax.jit(lambda w, x, shared: simulate(c, c.slot_angles(w, x), shared_rows=shared),
                  static_argnums=2)
    a, b = sim(w, x, True), sim(w, x, False)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-12)
    grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
    ga, gb = grad(w, x, True), grad(w, x, False)
    for u, v in zip(ga, gb, strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-10)


def test_input_only_and_complex_rotation_circuits(x64):
    """No weights at all; RX / RZ in a rotation block after entanglement (complex left and
    right factors); a CNOT permutation between them."""
    gates = (
        Gate("ry", (0,), input=0), Gate("ry", (1,), input=1), Gate("ry", (2,), input=2),
        Gate("cnot", (0, 2)), Gate("rx", (1,), input=0), Gate("rz", (2,), input=1),
        Gate("cz", (1, 2)), Gate("rx", (0,), input=2),
    )
    c = Circuit(3, gates, 0, n_inputs=3)
    x = jnp.array([[0.3, -1.2, 2.0], [1.0, 0.5, -0.7]])
    psi = np.asarray(simulate(c, c.slot_angles(jnp.zeros(0), x)))
    # dense reference, gate by gate (qubit 0 most significant)
    from qtn.tn import gates as g

    def op(m, q):
        mats = [np.eye(2)] * 3
        mats[q] = m
        return np.kron(np.kron(mats[0], mats[1]), mats[2])

    for row in range(2):
        a = np.asarray(x[row])
        v = np.zeros(8, complex)
        v[0] = 1
        v = op(np.asarray(g.ry(a[0])), 0) @ op(np.asarray(g.ry(a[1])), 1) @ op(
            np.asarray(g.ry(a[2])), 2) @ v
        cnot = np.zeros((8, 8))
        for k in range(8):
            b0, b1, b2 = (k >> 2) & 1, (k >> 1) & 1, k & 1
            cnot[(b0 << 2) | (b1 << 1) | (b2 ^ b0), k] = 1
        v = cnot @ v
        v = op(np.asarray(g.rz(a[1])), 2) @ op(np.asarray(g.rx(a[0])), 1) @ v
        cz = np.diag([1, 1, 1, -1, 1, 1, 1, -1])
        v = op(np.asarray(g.rx(a[2])), 0) @ (cz @ v)
        np.testing.assert_allclose(psi[row], v, atol=1e-12)


def test_real_circuits_stay_real():
    c = ansatz_circuit(CircuitSpec(3, "hea", "cnot", "brickwork", readout="probs"), 6)
    psi = simulate(c, c.slot_angles(jnp.ones(c.n_weights)))
    assert not jnp.iscomplexobj(psi) and psi.shape == (1, 64)


def _unrolled(monkeypatch, fn):
    """``fn()`` with the periodic scan turned off (every gate unrolled)."""
    from qtn.quantum import statevector

    with monkeypatch.context() as m:
        m.setattr(statevector, "SCAN_MIN_PERIODS", 10**9)
        statevector.circuit_period.cache_clear()
        statevector.scan_plan.cache_clear()
        try:
            return fn()
        finally:
            statevector.circuit_period.cache_clear()
            statevector.scan_plan.cache_clear()


def test_periods_are_found_only_where_they_repeat_often_enough():
    from qtn.quantum.statevector import circuit_period

    period, count = circuit_period(qnn_circuit(4, 3))
    assert count == 3 and len(period.gates) == 5 * 4 and period.n_slots == 4 * 5
    assert circuit_period(qnn_circuit(4, 2)) is None  # 2 < SCAN_MIN_PERIODS
    brick = ansatz_circuit(CircuitSpec(ansatz="hea", depth=6, pattern="brickwork"), 4)
    period, count = circuit_period(brick)  # the entanglers alternate: 2 layers repeat
    assert count == 3 and len(period.gates) == len(brick.gates) // 3


def test_the_scanned_body_keeps_the_fusion_across_period_boundaries():
    from qtn.quantum.statevector import circuit_period, compile_blocks, scan_plan

    c = qnn_circuit(4, 5)
    plan = scan_plan(c)
    period_blocks = len(compile_blocks(circuit_period(c)[0]))
    # unrolled, a layer's last RY block and the next layer's encoding fuse: 4 blocks a layer
    assert len(compile_blocks(plan.body)) == period_blocks - 1 == 4
    assert (plan.iterations, len(plan.prefix.gates), len(plan.suffix.gates)) == (3, 24, 16)
    assert plan.prefix.n_slots + plan.iterations * plan.body.n_slots + plan.suffix.n_slots \
        == c.n_slots
    brick = scan_plan(ansatz_circuit(CircuitSpec(ansatz="hea", depth=6, pattern="brickwork"), 4))
    assert not brick.suffix.gates and brick.iterations == 2  # nothing fuses: no shift


@pytest.mark.parametrize("case", ["qnn", "qnn-shared", "brickwork", "general-cnot"])
def test_scanned_periods_equal_the_unrolled_circuit_and_gradients(case, monkeypatch, x64):
    if case.startswith("qnn"):
        c = qnn_circuit(4, 3)
    elif case == "brickwork":
        c = ansatz_circuit(CircuitSpec(ansatz="hea", depth=6, pattern="brickwork"), 4)
    else:
        c = ansatz_circuit(CircuitSpec(ansatz="general", depth=3, entangler="cnot"), 3)
    rng = np.random.default_rng(1)
    w = jnp.asarray(rng.uniform(-np.pi, np.pi, c.n_weights))
    x = jnp.asarray(rng.normal(size=(3, c.n_inputs))) if c.n_inputs else None
    shared = case == "qnn-shared"

    def loss(w, x):
        psi = simulate(c, c.slot_angles(w, x), shared_rows=shared)
        return jnp.sum(jnp.abs(psi) ** 2 * jnp.cos(jnp.arange(psi.size).reshape(psi.shape)))

    from qtn.quantum.statevector import circuit_period

    assert circuit_period(c) is not None
    def run():  # jitted: traced afresh, so the scan setting in force is the one used
        psi = jax.jit(lambda w, x: simulate(c, c.slot_angles(w, x), shared_rows=shared))(w, x)
        return psi, jax.jit(jax.grad(loss))(w, x)

    scanned, plain = run(), _unrolled(monkeypatch, run)
    assert jnp.iscomplexobj(scanned[0]) == jnp.iscomplexobj(plain[0]) or case == "brickwork"
    np.testing.assert_allclose(np.asarray(scanned[0]), np.asarray(plain[0]), atol=1e-12)
    np.testing.assert_allclose(np.asarray(scanned[1]), np.asarray(plain[1]), atol=1e-10)


def test_a_deep_circuit_program_does_not_grow_with_its_depth():
    sizes = []
    for layers in (3, 12):
        c = qnn_circuit(6, layers)
        w, x = jnp.zeros(c.n_weights), jnp.zeros((2, 6))
        jaxpr = jax.make_jaxpr(lambda w, x, c=c: simulate(c, c.slot_angles(w, x)))(w, x)
        sizes.append(len(str(jaxpr).splitlines()))
    assert sizes[1] <= sizes[0] + 5, sizes
