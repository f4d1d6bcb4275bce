"""Parameters of a hybrid network: initialisation, arrays of a view, dense reconstruction.

``params`` is a flat ``dict[str, jax.Array]`` (a JAX pytree): ``"core{k}"`` for classical cores
(a_{k-1}, i_k, j_k, a_k) and ``"angles{k}"`` (real) for circuit sites. Together with the static
``Skeleton`` it is quimb's pack/unpack pair; the caller decides which names train (freeze a
name by not differentiating it). Gate tensors are rebuilt from the angles inside JAX.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import quimb.tensor as qtensor

from qtn.tn import gates
from qtn.tn.ansatz import CircuitSpec, rotation_gates
from qtn.tn.mpo import MPO, mpo_to_dense
from qtn.tn.network import Network, TensorRef
from qtn.tn.readout import readout_map
from qtn.tn.skeleton import Skeleton, hybrid_skeleton


def init_params(
    skel: Skeleton,
    key: jax.Array,
    *,
    cores: Mapping[int, jax.Array] | None = None,
    zero_site: int | None = None,
    angle_scale: float = 1.0,
    dtype=jnp.float32,
) -> dict[str, jax.Array]:
    """Random parameters. Classical cores ~ N(0, std_k^2) with std_k^2 = 1 / (a_{k-1}
    d_in^{1/N}) so a fully classical network has Var(W_ij) = 1/d_in; ``cores[k]`` overrides
    site k; ``zero_site`` starts that classical core at zero (LoRA-like: the network is then
    exactly zero). Angles ~ U(-pi, pi) * angle_scale, real ``dtype``."""
    cores = dict(cores or {})
    if zero_site is not None:
        if not 0 <= zero_site < skel.n_sites:
            raise ValueError(f"zero_site {zero_site} out of range for {skel.n_sites} sites")
        if skel.circuit_at(zero_site) is not None:
            raise ValueError(f"zero_site {zero_site} is a circuit site; pick a classical core")
    keys = jax.random.split(key, skel.n_sites)
    params = {}
    for k, (name, shape) in enumerate(skel.param_shapes().items()):
        if skel.circuit_at(k) is not None:
            params[name] = angle_scale * jax.random.uniform(keys[k], shape, dtype, -np.pi, np.pi)
        elif k == zero_site:
            params[name] = jnp.zeros(shape, dtype)
        elif k in cores:
            arr = jnp.asarray(cores[k], dtype)
            if arr.shape != shape:
                raise ValueError(f"core {k} has shape {arr.shape}, skeleton expects {shape}")
            params[name] = arr
        else:
            params[name] = skel.core_std(k) * jax.random.normal(keys[k], shape, dtype)
    return params


def hybrid_from_mpo(
    mpo: MPO,
    circuits: Mapping[int, CircuitSpec],
    key: jax.Array,
    *,
    angle_scale: float = 1.0,
    zero_site: int | None = None,
) -> tuple[dict[str, jax.Array], Skeleton]:
    """(params, skeleton) from an MPO with ``circuits`` replacing the cores at those sites.
    The other cores are the MPO's (dtype kept), except ``zero_site`` which starts at zero."""
    skel = hybrid_skeleton(mpo.in_dims, mpo.out_dims, mpo.bond_dims, circuits)
    dtype = mpo.cores[0].dtype
    cores = {k: c for k, c in enumerate(mpo.cores) if skel.circuit_at(k) is None}
    params = init_params(
        skel, key, cores=cores, zero_site=zero_site, angle_scale=angle_scale, dtype=dtype
    )
    return params, skel


def network_arrays(
    skel: Skeleton,
    params: Mapping[str, jax.Array],
    tensors: tuple[TensorRef, ...],
    x: jax.Array | None = None,
    site_cores: Mapping[int, jax.Array] | None = None,
) -> list[jax.Array]:
    """The arrays of a view's tensors, in order (reshaped / squeezed to each ref's shape).
    ``site_cores[k]`` supplies kind "site" tensors (circuits already contracted; computed by
    the reference :func:`circuit_core` when missing)."""
    sites = {t.site for t in tensors if t.kind in ("rot", "ent", "zero")}
    rots = {k: rotation_gates(skel.circuit_at(k), params[skel.param_name(k)]) for k in sites}
    # One split per site (its gradient is one concatenate), not a slice per gate (a pad each).
    ents = {
        k: _split(
            _fused_entanglers(rots[k], [t.key for t in tensors if t.site == k and t.kind == "ent"])
        )
        for k in sites
    }
    out = []
    n_ent = dict.fromkeys(sites, 0)
    for t in tensors:
        if t.kind == "x":
            arr = x
        elif t.kind == "core":
            arr = params[f"core{t.site}"]
        elif t.kind == "site":
            given = site_cores is not None and t.site in site_cores
            arr = site_cores[t.site] if given else circuit_core(skel, params, t.site)
        elif t.kind == "rot":
            arr = rots[t.site][t.key]
        elif t.kind == "zero":
            arr = jnp.array([1.0, 0.0], rots[t.site].dtype)
        else:
            arr = ents[t.site][n_ent[t.site]][0]
            n_ent[t.site] += 1
        out.append(arr.reshape(t.shape))
    return out


def _split(a: jax.Array) -> list[jax.Array]:
    return jnp.split(a, a.shape[0]) if a.shape[0] else []


def _fused_entanglers(rots: jax.Array, keys: list[tuple]) -> jax.Array:
    """All entanglers of a site with their absorbed rotations, in one batched einsum:
    ``E[o1, o2, i1, i2] = ENT[o1, o2, a, b] R_a[a, i1] R_b[b, i2]`` -> (n_ent, 2, 2, 2, 2)."""
    if not keys:
        return jnp.zeros((0, 2, 2, 2, 2), rots.dtype)
    depth, n = rots.shape[:2]
    # Flat rotation table with the identity appended: "no rotation absorbed" indexes it.
    table = jnp.concatenate([rots.reshape(depth * n, 2, 2), jnp.eye(2, dtype=rots.dtype)[None]])
    ident = depth * n
    ia = np.array([ident if a is None else a[0] * n + a[1] for _, a, _ in keys])
    ib = np.array([ident if b is None else b[0] * n + b[1] for _, _, b in keys])
    ent = jnp.asarray(np.stack([gates.TWO_QUBIT[e] for e, _, _ in keys]), rots.dtype)
    return jnp.einsum("eopab,eai,ebj->eopij", ent, table[ia], table[ib])


def _apply_circuit(spec: CircuitSpec, angles: jax.Array, psi: jax.Array, n: int) -> jax.Array:
    """Apply the gates one by one to ``psi``: (2,)*n + (m,) (qubit axes first)."""
    rots = rotation_gates(spec, angles)
    psi = psi.astype(jnp.result_type(psi.dtype, rots.dtype))
    for op in spec.ops(n):
        if op[0] == "rot":
            _, layer, q = op
            psi = jnp.moveaxis(jnp.tensordot(rots[layer, q], psi, axes=((1,), (q,))), 0, q)
        else:
            _, q1, q2 = op
            g = jnp.asarray(gates.TWO_QUBIT[spec.entangler], psi.dtype)
            psi = jnp.tensordot(g, psi, axes=((2, 3), (q1, q2)))
            psi = jnp.moveaxis(psi, (0, 1), (q1, q2))
    return psi


def circuit_unitary(spec: CircuitSpec, angles: jax.Array, n: int) -> jax.Array:
    """Dense U: (2^n, 2^n) [out, in] by applying the gates to the identity, one by one
    (a reference path that does not use the planner)."""
    dim = 2**n
    eye = jnp.eye(dim, dtype=jnp.asarray(angles).dtype).reshape((2,) * n + (dim,))
    return _apply_circuit(spec, angles, eye, n).reshape(dim, dim)


def circuit_state(spec: CircuitSpec, angles: jax.Array, n: int) -> jax.Array:
    """U|0...0>: (2^n,) by applying the gates one by one (reference for measured readouts)."""
    zero = jnp.zeros((2**n, 1), jnp.asarray(angles).dtype).at[0, 0].set(1.0)
    return _apply_circuit(spec, angles, zero.reshape((2,) * n + (1,)), n).reshape(-1)


def circuit_core(skel: Skeleton, params: Mapping[str, jax.Array], k: int) -> jax.Array:
    """Site k's circuit as its core (a_{k-1}, i_k, j_k, a_k). Unitary readout:
    G[(l,i),(j,r)] = U[(j,r),(l,i)]; measured: ``readout_map`` of U|0>, reshaped row-major."""
    spec, n = skel.circuit_at(k), skel.n_qubits(k)
    angles = params[skel.param_name(k)]
    if spec.measured:
        amps = circuit_state(spec, angles, n)
        return readout_map(spec.readout, amps, skel.core_std(k)).reshape(skel.core_shape(k))
    return circuit_unitary(spec, angles, n).T.reshape(skel.core_shape(k))


def to_dense(skel: Skeleton, params: Mapping[str, jax.Array]) -> jax.Array:
    """W: (d_in, d_out), jittable. Real part if any circuit is complex (as the layer's y)."""
    cores = [
        circuit_core(skel, params, k) if skel.circuit_at(k) is not None else params[f"core{k}"]
        for k in range(skel.n_sites)
    ]
    w = mpo_to_dense(cores)
    return jnp.real(w) if jnp.iscomplexobj(w) else w


def to_tensor_network(
    skel: Skeleton, params: Mapping[str, jax.Array], net: Network, x: jax.Array | None = None
) -> qtensor.TensorNetwork:
    """A view as a quimb TensorNetwork (tags ``SITE{k}``, ``X``, kind) for inspection."""
    arrays = network_arrays(skel, params, net.tensors, x=x)
    return qtensor.TensorNetwork(
        [
            qtensor.Tensor(a, t.inds, tags={t.kind.upper(), "X" if t.site < 0 else f"SITE{t.site}"})
            for a, t in zip(arrays, net.tensors, strict=True)
        ]
    )
