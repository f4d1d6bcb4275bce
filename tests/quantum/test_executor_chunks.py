"""The exact executor's state-vector path in row chunks equals the unchunked run (values and the
adjoint gradients), for shared weight rows and for independent rows."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum.circuit import ansatz_circuit, qnn_circuit
from qtn.quantum.executors import MAX_CHUNKS, chunk_rows, exact_probabilities
from qtn.quantum.statevector import z_expectations
from qtn.tn import CircuitSpec


def test_chunk_rows_keeps_small_batches_whole_and_caps_the_chunk_count():
    assert chunk_rows(100, 8, 1 << 16) == 100  # 100 x 256 amplitudes fit one chunk
    assert chunk_rows(1024, 8, 1 << 16) == 256  # four chunks of 256 rows
    assert chunk_rows(1025, 8, 1 << 16) == 257  # never more than MAX_CHUNKS chunks
    assert -(-4096 // chunk_rows(4096, 8, 1 << 16)) == MAX_CHUNKS
    assert chunk_rows(3, 20, 1 << 16) == 1  # a state larger than the chunk: one row each


@pytest.mark.parametrize("batch", [13, 16])  # a ragged last chunk, and even chunks
def test_chunked_qnn_matches_one_chunk_with_gradients(batch):
    circuit = qnn_circuit(7, 2)  # above the dense path's 6 qubits: the state-vector path
    kw, kh, kp = jax.random.split(jax.random.key(3), 3)
    w = jax.random.uniform(kw, (circuit.n_weights,), minval=-np.pi, maxval=np.pi)
    h = jax.random.normal(kh, (batch, 7))
    probe = jax.random.normal(kp, (batch, 7))

    def loss(w, h, amplitudes):
        probs = exact_probabilities(circuit, circuit.slot_angles(w, h), shared_rows=True,
                                    chunk_amplitudes=amplitudes)
        return jnp.sum(z_expectations(probs) * probe)

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)), static_argnums=2)
    whole = value_and_grad(w, h, 1 << 20)
    rows = chunk_rows(batch, 7, 4 * 128)
    assert 1 < -(-batch // rows) <= MAX_CHUNKS  # really chunked
    chunked = value_and_grad(w, h, 4 * 128)
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-5, atol=1e-5)
    for got, want in zip(chunked[1], whole[1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert float(jnp.abs(chunked[1][0]).max()) > 1e-3  # the weights get a gradient


def test_chunked_independent_rows_match():
    circuit = ansatz_circuit(CircuitSpec(2), 7)
    angles = jax.random.uniform(jax.random.key(1), (10, circuit.n_slots), minval=-3, maxval=3)
    whole = exact_probabilities(circuit, angles)
    chunked = exact_probabilities(circuit, angles, chunk_amplitudes=3 * 128)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    np.testing.assert_allclose(np.asarray(chunked).sum(axis=1), 1.0, atol=1e-5)


def test_malformed_angles_get_the_simulators_shape_error_not_a_chunk_error():
    circuit = ansatz_circuit(CircuitSpec(1), 16)  # 16 qubits: a (16,) array would be cut into chunks
    with pytest.raises(ValueError, match=r"shape \(16,\), expected \(batch, 16\)"):
        exact_probabilities(circuit, jnp.zeros((circuit.n_slots,)))
