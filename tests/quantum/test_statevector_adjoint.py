"""The simulator's adjoint-method gradients equal autodiff through a plain gate-by-gate
complex simulation (written here, independent of the fused blocks): every gate kind, per-row
and shared angles, real and complex states, product-state starts, scanned periodic circuits,
and an amplitude-level (not only probability-level) loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum.circuit import Circuit, Gate, qnn_circuit
from qtn.quantum.statevector import scan_plan, simulate_state
from qtn.tn import gates as g


def _plain(circuit: Circuit, angles: jax.Array) -> jax.Array:
    """Gate by gate on a complex (B, 2, ..., 2) state: amplitudes (B, 2^n)."""
    n, b = circuit.n_qubits, angles.shape[0]
    psi = jnp.zeros((b, 2**n), jnp.complex128).at[:, 0].set(1.0).reshape((b,) + (2,) * n)
    slot_of = {gid: s for s, gid in enumerate(circuit.slots)}
    for i, gate in enumerate(circuit.gates):
        q = gate.qubits
        if gate.name in ("rx", "ry", "rz"):
            m = {"rx": g.rx, "ry": g.ry, "rz": g.rz}[gate.name](angles[:, slot_of[i]])
            psi = jnp.moveaxis(jnp.einsum("bij,b...j->b...i", m.astype(jnp.complex128),
                                          jnp.moveaxis(psi, 1 + q[0], -1)), -1, 1 + q[0])
            continue
        c, t = q
        moved = jnp.moveaxis(psi, (1 + c, 1 + t), (-2, -1))
        if gate.name == "cnot":
            moved = moved.at[..., 1, :].set(moved[..., 1, ::-1])
        elif gate.name == "cz":
            moved = moved.at[..., 1, 1].multiply(-1)
        else:  # crz: diag(1, 1, e^{-i t/2}, e^{i t/2})
            theta = angles[:, slot_of[i]].reshape((b,) + (1,) * (n - 2))
            moved = moved.at[..., 1, 0].multiply(jnp.exp(-0.5j * theta))
            moved = moved.at[..., 1, 1].multiply(jnp.exp(0.5j * theta))
        psi = jnp.moveaxis(moved, (-2, -1), (1 + c, 1 + t))
    return psi.reshape(b, -1)


def _fused(circuit, angles, shared):
    re, im = simulate_state(circuit, angles, shared_rows=shared).flat()
    return re + 1j * im if im is not None else re.astype(jnp.complex128)


def _mixed(n_layers: int = 1) -> Circuit:
    """Every gate kind; inputs on RX / RY / RZ; a leading CNOT (the run starts from |0>
    without a product state); repeated ``n_layers`` times."""
    gates, w = [], 0
    for _ in range(n_layers):
        layer = [Gate("cnot", (0, 2)), Gate("rx", (0,), weight=w), Gate("ry", (1,), input=0),
                 Gate("rz", (2,), input=1), Gate("crz", (1, 0), weight=w + 1),
                 Gate("cz", (2, 1)), Gate("rz", (1,), weight=w + 2),
                 Gate("ry", (2,), weight=w + 3), Gate("rx", (0,), input=2),
                 Gate("cnot", (2, 1)), Gate("crz", (0, 2), weight=w + 4)]
        gates += layer
        w += 5
    return Circuit(3, tuple(gates), w, n_inputs=3, name=f"mixed x{n_layers}")


def _real_only() -> Circuit:
    """RY and CNOT only: the state stays real throughout."""
    gates = (Gate("ry", (0,), input=0), Gate("ry", (1,), weight=0), Gate("cnot", (0, 1)),
             Gate("ry", (2,), input=1), Gate("cnot", (1, 2)), Gate("ry", (0,), weight=1))
    return Circuit(3, gates, 2, n_inputs=2, name="real")


CIRCUITS = [qnn_circuit(4, 2), qnn_circuit(5, 4), qnn_circuit(2, 1), _mixed(1), _mixed(3),
            _real_only()]


@pytest.mark.parametrize("circuit", CIRCUITS, ids=lambda c: c.name)
@pytest.mark.parametrize("shared", [False, True], ids=["per-row", "shared"])
def test_adjoint_gradients_equal_autodiff_of_a_plain_simulation(circuit, shared, x64):
    rng = np.random.default_rng(circuit.n_qubits)
    w = jnp.asarray(rng.uniform(-np.pi, np.pi, circuit.n_weights))
    x = jnp.asarray(rng.normal(size=(4, circuit.n_inputs)))
    probe = jnp.asarray(rng.normal(size=(4, circuit.dim)) + 1j * rng.normal(size=(4, circuit.dim)))

    def loss(sim, w, x):  # depends on phases, not only on probabilities
        amps = sim(circuit.slot_angles(w, x if circuit.n_inputs else None))
        return jnp.sum(jnp.real(jnp.conj(probe) * amps) ** 2) + jnp.sum(jnp.abs(amps) ** 3)

    fused = jax.jit(jax.grad(lambda w, x: loss(lambda a: _fused(circuit, a, shared), w, x),
                             argnums=(0, 1)))
    plain = jax.jit(jax.grad(lambda w, x: loss(lambda a: _plain(circuit, a), w, x),
                             argnums=(0, 1)))
    np.testing.assert_allclose(
        np.asarray(_fused(circuit, circuit.slot_angles(w, x), shared)),
        np.asarray(_plain(circuit, circuit.slot_angles(w, x))), atol=1e-12)
    for got, want in zip(fused(w, x), plain(w, x), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-9)


def test_the_scanned_cases_are_covered():
    """The periodic circuits above do run as a scan (the adjoint pass inside ``lax.scan``)."""
    assert scan_plan(qnn_circuit(5, 4)) is not None
    assert scan_plan(_mixed(3)) is not None
    assert scan_plan(qnn_circuit(4, 2)) is None


def test_gradients_of_slot_angles_directly(x64):
    """Per-slot gradients (parameter-shift batches pass slot angles, not weights)."""
    c = _mixed(1)
    a = jnp.asarray(np.random.default_rng(0).uniform(-2, 2, (3, c.n_slots)))
    f = lambda sim, a: jnp.sum(jnp.abs(sim(a)[:, ::3]) ** 2)  # noqa: E731
    got = jax.grad(lambda a: f(lambda v: _fused(c, v, False), a))(a)
    want = jax.grad(lambda a: f(lambda v: _plain(c, v), a))(a)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-10)


def test_gradient_memory_grows_by_about_one_state_per_layer():
    """The adjoint pass keeps the final state, not one per gate block: the gradient program
    of an 8-qubit QNN over 256 rows grows by < 3 states per extra layer (autodiff through
    the blocks kept about 9)."""
    state_bytes = 256 * 2**8 * 2 * 4  # rows x amplitudes x (re, im) x float32

    def temp_bytes(layers):
        c = qnn_circuit(8, layers)

        def f(w, h):
            st = simulate_state(c, c.slot_angles(w, h), shared_rows=True)
            return jnp.sum(st.x[:, :, 0] ** 2)

        args = (jnp.zeros(c.n_weights, jnp.float32), jnp.zeros((256, 8), jnp.float32))
        compiled = jax.jit(jax.grad(f, argnums=(0, 1))).lower(*args).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    per_layer = (temp_bytes(8) - temp_bytes(2)) / 6
    assert per_layer < 3 * state_bytes, per_layer / state_bytes
