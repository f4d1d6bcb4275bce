"""qtn.tn: pure tensor-network math (quimb + numpy + jax.numpy; no flax, no transformers).

API (shapes: W (d_in, d_out), x (batch, d_in), core k (a_{k-1}, i_k, j_k, a_k)):

- ``factorize(d, n, factors=None) -> tuple[int, ...]``: balanced factors, odd ones first.
- ``tt_svd(W, in_dims, out_dims, max_bond=None, cutoff=0.0) -> (MPO, TTSVDReport)``;
  ``MPO.to_dense() -> (d_in, d_out)``; report: bond_dims, params, dense_params, rel_error.
- ``CircuitSpec(depth, ansatz="hea"|"general", entangler="cz"|"cnot",
  pattern="chain"|"brickwork", readout="unitary"|"probs"|"expval", qubits=None)``;
  ``circuit_tn(spec, angles, n)`` (quimb TN, legs ``b{q}`` in / ``k{q}`` out);
  ``quimb_circuit`` (quimb-gate reference).
- ``readout_map(readout, amps, scale) -> (2^n,)``: a measured core from U|0>'s amplitudes
  (``probs``: scale·(2^n p − 1); ``expval``: scale·2^{n/2}·<Z^s> for every Z-string s).
- ``hybrid_skeleton(in_dims, out_dims, bond, circuits={site: CircuitSpec}) -> Skeleton``
  (frozen, hashable: the jit-static half of pack/unpack).
- ``hybrid_from_mpo(mpo, circuits, key, angle_scale=1.0, zero_site=None) -> (params, Skeleton)``
  and ``init_params(skel, key, cores=None, zero_site=None, angle_scale=1.0, dtype)``:
  ``params`` is a flat dict ``"core{k}"`` / ``"angles{k}"`` -> jax.Array; the caller picks
  which names train. ``zero_site`` starts one classical core at 0 (LoRA-like delta).
- ``to_dense(skel, params) -> (d_in, d_out)``: jittable (real part if a circuit is complex);
  ``circuit_core(skel, params, k)`` / ``circuit_state(spec, angles, n)``: gate-by-gate
  references for one circuit core / U|0>.
- ``fit_circuit(skel, site, target, key=...) -> FitResult`` (angles, scale, rel_error vs the
  identity's): a circuit fitted to a core up to a scalar; ``apply_fit`` moves the scalar into
  a classical neighbour so the MPO is unchanged (``qtn.tn.fit``).
- ``layered_unitary(spec, angles, n) -> (2^n, 2^n)``: small circuits densified in a few
  batched ops (used by the "split" plan for n <= ``LAYERED_MAX_QUBITS``).
  ``layered_state(spec, angles, n) -> (2^n,)``: U|0> with two matmuls and a signed gather per
  layer (measured readouts).
- ``layer_network`` / ``circuit_network`` / ``network_arrays`` / ``to_tensor_network``:
  index-level views used by ``qtn.contract``.
"""

from qtn.tn.ansatz import CircuitSpec, circuit_tn, quimb_circuit
from qtn.tn.factorize import factorize, is_power_of_two
from qtn.tn.fit import FitResult, apply_fit, fit_circuit, scaled_core_error
from qtn.tn.layered import LAYERED_MAX_QUBITS, layered_unitary
from qtn.tn.mpo import MPO, TTSVDReport, mpo_to_dense, tt_svd
from qtn.tn.network import Network, TensorRef, circuit_network, layer_network
from qtn.tn.params import (
    circuit_core,
    circuit_state,
    circuit_unitary,
    hybrid_from_mpo,
    init_params,
    network_arrays,
    to_dense,
    to_tensor_network,
)
from qtn.tn.readout import MEASURED_READOUTS, readout_from_probs, readout_map
from qtn.tn.skeleton import Skeleton, hybrid_skeleton

__all__ = [
    "LAYERED_MAX_QUBITS",
    "MEASURED_READOUTS",
    "MPO",
    "CircuitSpec",
    "FitResult",
    "Network",
    "Skeleton",
    "TTSVDReport",
    "TensorRef",
    "apply_fit",
    "circuit_core",
    "circuit_network",
    "circuit_state",
    "circuit_tn",
    "circuit_unitary",
    "factorize",
    "fit_circuit",
    "hybrid_from_mpo",
    "hybrid_skeleton",
    "init_params",
    "is_power_of_two",
    "layer_network",
    "layered_unitary",
    "mpo_to_dense",
    "network_arrays",
    "quimb_circuit",
    "readout_from_probs",
    "readout_map",
    "scaled_core_error",
    "to_dense",
    "to_tensor_network",
    "tt_svd",
]
