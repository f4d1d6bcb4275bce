"""The C++ QNN kernel (qtn.quantum.native): values and both gradients equal the JAX simulator
(itself checked against quimb and a plain gate-by-gate simulation); the exact executor routes
only the paper's QNN to it; a machine without a compiler gets a clear reason and the JAX path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum import native
from qtn.quantum.circuit import Circuit, Gate, qnn_circuit
from qtn.quantum.config import QuantumConfig, make_runner
from qtn.quantum.executors import ExactExecutor
from qtn.quantum.gradients import estimate
from qtn.quantum.native import build, qnn
from qtn.quantum.statevector import simulate_state, state_probabilities, z_expectations

pytestmark = pytest.mark.skipif(qnn.unavailable_reason() is not None,
                                reason=f"native kernel unavailable: {qnn.unavailable_reason()}")


def _simulated(circuit, w, h):
    st = simulate_state(circuit, circuit.slot_angles(w, h), shared_rows=True)
    return z_expectations(state_probabilities(st))


def _inputs(n, layers, rows, seed=0):
    k = jax.random.split(jax.random.key(seed), 3)
    w = jax.random.uniform(k[0], (layers * 4 * n,), jnp.float32, -np.pi, np.pi)
    h = 1.5 * jax.random.normal(k[1], (rows, n), jnp.float32)
    gz = jax.random.normal(k[2], (rows, n), jnp.float32)
    return w, h, gz


# rows: one token, a partial SIMD block, several blocks with a tail, many blocks (threads)
@pytest.mark.parametrize("n,layers,rows", [(2, 1, 1), (3, 2, 17), (4, 3, 37), (8, 2, 300),
                                           (6, 1, 1024)])
def test_kernel_matches_simulator_values_and_gradients(n, layers, rows):
    circuit = qnn_circuit(n, layers)
    w, h, gz = _inputs(n, layers, rows)
    z_sim, vjp_sim = jax.vjp(lambda w, h: _simulated(circuit, w, h), w, h)
    z_nat, vjp_nat = jax.vjp(lambda w, h: qnn.qnn_z(layers, h, w), w, h)
    np.testing.assert_allclose(z_nat, z_sim, atol=3e-6)
    for got, want in zip(vjp_nat(gz), vjp_sim(gz), strict=True):
        np.testing.assert_allclose(got, want, atol=5e-5 * max(1.0, float(jnp.max(abs(want)))))


def test_kernel_under_jit_scan_and_vmap():
    n, layers = 4, 2
    w, h, gz = _inputs(n, layers, 40)
    want = _simulated(qnn_circuit(n, layers), w, h)
    got = jax.jit(lambda w, h: qnn.qnn_z(layers, h, w))(w, h)
    np.testing.assert_allclose(got, want, atol=3e-6)
    hs = jnp.stack([h, h[::-1]])
    stacked = jax.vmap(lambda x: qnn.qnn_z(layers, x, w))(hs)
    np.testing.assert_allclose(stacked[1], want[::-1], atol=3e-6)
    _, scanned = jax.lax.scan(lambda c, x: (c, qnn.qnn_z(layers, x, w)), 0.0, hs)
    np.testing.assert_allclose(scanned[0], want, atol=3e-6)


def test_qnn_layers_recognises_only_the_paper_circuit():
    assert qnn.qnn_layers(qnn_circuit(8, 2)) == 2
    assert qnn.qnn_layers(qnn_circuit(3, 5)) == 5
    c = qnn_circuit(3, 1)
    swapped = Circuit(3, (Gate("rx", (0,), input=0),) + c.gates[1:], c.n_weights, n_inputs=3)
    assert qnn.qnn_layers(swapped) is None
    assert qnn.qnn_layers(qnn_circuit(native.qnn.MAX_QUBITS + 1, 1)) is None


def test_exact_executor_routes_the_qnn_to_the_kernel_and_the_rest_to_jax():
    circuit = qnn_circuit(4, 2)
    w, h, _ = _inputs(4, 2, 8)

    def program(executor, w, h):
        return str(jax.make_jaxpr(lambda w, h: estimate(executor, circuit, w, h, measure="z"))(
            w, h))

    assert "qtn_qnn_z" in program(ExactExecutor(), w, h)
    assert "qtn_qnn_z" not in program(ExactExecutor(native=False), w, h)
    assert "qtn_qnn_z" not in program(ExactExecutor(), w.astype(jnp.float16), h)  # not f32
    assert qnn.eligible(circuit, w[None], h) is None  # weights not (n_weights,)
    assert qnn.eligible(circuit, w, h[:, :3]) is None  # inputs not (B, n)
    probs = str(jax.make_jaxpr(lambda w, h: estimate(ExactExecutor(), circuit, w, h,
                                                     measure="probs"))(w, h))
    assert "qtn_qnn_z" not in probs
    runner = make_runner(QuantumConfig(native=False))
    assert runner.executor.native is False
    np.testing.assert_allclose(estimate(ExactExecutor(), circuit, w, h, measure="z"),
                               runner.estimate(circuit, w, h, measure="z"), atol=3e-6)


def test_config_native_must_be_bool():
    errors = QuantumConfig(native="yes").check()
    assert any("quantum.native must be true or false" in e for e in errors)


def test_no_compiler_is_a_clear_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(build.KernelUnavailable, match="no C\\+\\+ compiler"):
        build.library_path("qnn_kernel", cache_dir=tmp_path)


def test_cache_key_follows_the_cpu(monkeypatch, tmp_path):
    first = build.library_path("qnn_kernel", cache_dir=tmp_path)
    assert build.library_path("qnn_kernel", cache_dir=tmp_path) == first  # cached
    monkeypatch.setattr(build, "cpu_signature", lambda: "another cpu")
    second = build.library_path("qnn_kernel", cache_dir=tmp_path)
    assert second != first and second.is_file()


def test_broken_source_reports_the_compiler_error(monkeypatch, tmp_path):
    (tmp_path / "bad.cc").write_text("this is not C++\n")
    monkeypatch.setattr(build, "SOURCE_DIR", tmp_path)
    with pytest.raises(build.KernelUnavailable, match="building bad.cc failed"):
        build.library_path("bad", cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.so"))  # no half-written library left


def test_unavailable_kernel_warns_and_falls_back(monkeypatch):
    monkeypatch.setattr(qnn, "_register", lambda: "no C++ compiler found")
    w, h, _ = _inputs(3, 1, 5)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler found"):
        assert qnn.eligible(qnn_circuit(3, 1), w, h) is None


def test_build_command_reports_each_kernel(capsys, monkeypatch, tmp_path):
    assert build.main() == 0
    assert "qnn_kernel: " in capsys.readouterr().out
    (tmp_path / "bad.cc").write_text("not C++\n")
    monkeypatch.setattr(build, "SOURCE_DIR", tmp_path)
    monkeypatch.setattr(build, "default_cache_dir", lambda: tmp_path / "cache")
    assert build.main() == 1
    assert "bad: not built: building bad.cc failed" in capsys.readouterr().err
