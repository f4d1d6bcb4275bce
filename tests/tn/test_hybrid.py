"""Hybrid networks: structure, validation, and W equal to an independent dense build
(quimb's own circuit unitary + numpy einsum)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.tn import (
    CircuitSpec,
    circuit_network,
    hybrid_from_mpo,
    hybrid_skeleton,
    init_params,
    layer_network,
    quimb_circuit,
    to_dense,
    to_tensor_network,
    tt_svd,
)


def independent_dense(skel, params) -> np.ndarray:
    """W from quimb's dense circuit unitaries and one numpy einsum over the 4-D cores."""
    cores = []
    for k in range(skel.n_sites):
        spec = skel.circuit_at(k)
        if spec is None:
            cores.append(np.asarray(params[f"core{k}"]))
            continue
        n = skel.n_qubits(k)
        uni = quimb_circuit(spec, np.asarray(params[f"angles{k}"]), n).get_uni()
        u = uni.to_dense([f"k{q}" for q in range(n)], [f"b{q}" for q in range(n)])
        cores.append(u.T.reshape(skel.core_shape(k)))
    letters = "abcdefghijklmnopqrstuvwxyz"
    bonds, ins, outs = letters[: skel.n_sites + 1], letters[10:20], letters[20:]
    terms = [f"{bonds[k]}{ins[k]}{outs[k]}{bonds[k + 1]}" for k in range(skel.n_sites)]
    spec_str = ",".join(terms) + f"->{bonds[0]}{ins[: skel.n_sites]}{outs[: skel.n_sites]}"
    spec_str += bonds[skel.n_sites]
    w = np.einsum(spec_str, *cores)
    return np.real(w).reshape(skel.d_in, skel.d_out)


CASES = [
    # (in_dims, out_dims, bond, circuits)
    ((8, 8, 4), (8, 8, 8), 4, {1: CircuitSpec(2)}),
    ((9, 8, 8), (9, 8, 8), 8, {1: CircuitSpec(2, ansatz="general", entangler="cnot")}),
    ((4, 4, 4, 2), (2, 4, 4, 4), 4, {1: CircuitSpec(1), 2: CircuitSpec(2, pattern="brickwork")}),
    ((8, 2), (4, 4), 2, {0: CircuitSpec(2)}),
]


@pytest.mark.parametrize(("in_dims", "out_dims", "bond", "circuits"), CASES)
def test_to_dense_matches_independent_build(in_dims, out_dims, bond, circuits):
    skel = hybrid_skeleton(in_dims, out_dims, bond, circuits)
    params = init_params(skel, jax.random.key(0))
    w = to_dense(skel, params)
    assert w.shape == (skel.d_in, skel.d_out) and w.dtype == jnp.float32
    ref = independent_dense(skel, params)
    np.testing.assert_allclose(np.asarray(w), ref, atol=2e-5 * np.abs(ref).max())
    # the qubit-level network (gates not densified), contracted by quimb, agrees too
    net = layer_network(skel, None, "qubit")
    tn = to_tensor_network(skel, params, net)
    w_tn = np.real(tn.contract(output_inds=net.output).data).reshape(skel.d_in, skel.d_out)
    np.testing.assert_allclose(w_tn, ref, atol=2e-5 * np.abs(ref).max())


def test_skeleton_structure():
    skel = hybrid_skeleton((8, 8, 8), (8, 8, 8), 8, {1: CircuitSpec(4)})
    assert skel.param_shapes() == {"core0": (1, 8, 8, 8), "angles1": (4, 6), "core2": (8, 8, 8, 1)}
    assert skel.num_params() == 512 + 24 + 512
    assert skel.n_qubits(1) == 6 and not skel.is_complex
    assert hash(skel) == hash(hybrid_skeleton((8, 8, 8), (8, 8, 8), 8, {1: CircuitSpec(4)}))
    net = layer_network(skel, 5, "qubit")
    kinds = [t.kind for t in net.tensors]
    # 4 layers x 5 chain CZs, each absorbing the preceding RYs; x and two cores
    assert kinds == ["x", "core"] + ["ent"] * 20 + ["core"]
    assert net.output == ("n", "j0", "j1.0", "j1.1", "j1.2", "j2")
    assert net.tensors[0].shape == (5, 8, 2, 2, 2, 8)
    assert circuit_network(skel, 1).output == tuple(
        f"{leg}.{t}" for leg in ("a1", "i1", "j1", "a2") for t in range(3)
    )


def test_hybrid_from_mpo_keeps_cores_and_zero_site():
    w = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    mpo, _ = tt_svd(w, (4, 4, 4), (4, 4, 4), max_bond=4)
    params, skel = hybrid_from_mpo(mpo, {1: CircuitSpec(2)}, jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(params["core0"]), mpo.cores[0])
    assert params["angles1"].shape == (2, 4) and params["angles1"].dtype == jnp.float32
    params0, _ = hybrid_from_mpo(mpo, {1: CircuitSpec(2)}, jax.random.key(0), zero_site=2)
    assert float(jnp.abs(params0["core2"]).max()) == 0.0
    assert float(jnp.abs(to_dense(skel, params0)).max()) == 0.0


def test_fully_classical_init_variance():
    skel = hybrid_skeleton((16, 16), (16, 16), 16)
    w = to_dense(skel, init_params(skel, jax.random.key(1)))
    assert 0.5 / 256 < float(jnp.var(w)) < 2.0 / 256


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (((9, 8, 8), (9, 8, 8), 8, {0: CircuitSpec(1)}), "leg i0 has size 9"),
        (((8, 8, 8), (8, 8, 8), 6, {1: CircuitSpec(1)}), "leg a1 has size 6"),
        (((8, 8, 8), (8, 8, 8), 8, {5: CircuitSpec(1)}), "site 5 out of range"),
        (((8, 8, 8), (8, 8, 8), 0, {}), "got 0"),
        (((8, 8, 8), (8, 8, 8), (8, -1), {}), "got -1"),
        (((8, 8, 8), (8, 8), 8, {}), r"\(8, 8\)"),
        (((8, 8, 8), (8, 8, 8), 8, {1: CircuitSpec(1, qubits=5)}), "5 qubits"),
        (((8, 2, 8), (8, 8, 8), 8, {1: CircuitSpec(1)}), "16 inputs x 64 outputs"),
    ],
)
def test_bad_skeletons(args, match):
    with pytest.raises(ValueError, match=match):
        hybrid_skeleton(*args)


def test_bad_init_args():
    skel = hybrid_skeleton((4, 2), (4, 4), 2, {1: CircuitSpec(1)})
    with pytest.raises(ValueError, match=r"\(1, 4, 4, 3\)"):
        init_params(skel, jax.random.key(0), cores={0: jnp.zeros((1, 4, 4, 3))})
    with pytest.raises(ValueError, match="zero_site 1 is a circuit site"):
        init_params(skel, jax.random.key(0), zero_site=1)
    with pytest.raises(ValueError, match="zero_site 7"):
        init_params(skel, jax.random.key(0), zero_site=7)
