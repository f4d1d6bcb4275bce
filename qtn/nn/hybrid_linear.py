"""HybridLinear: a tensor-network adapter (MPO cores, some replaced by circuit networks): the
layer of the ``circuit_mpo`` (weight-space hybrid) and ``mpo`` methods.

The trainable network ``T(theta)``: (d_in, d_out) is described by a static
:class:`qtn.tn.Skeleton` (leg sizes, bonds, which sites are circuits) and a flat ``params`` dict
``core{k}`` (a_{k-1}, i_k, j_k, a_k) / ``angles{k}`` (see :mod:`qtn.tn.params`). Two modes
(``docs: ARCHITECTURE.md, "The math"``):

- ``"delta"`` (LoRA-like): ``W_eff = W0 + alpha · T(theta)``; the last trainable classical core
  starts at zero, so ``T(theta_0) = 0``.
- ``"reparam"`` (MPOP-like): ``T(theta_0)`` is the TT-SVD of W0 (bonds zero-padded to
  the configured size) with the circuit sites' cores replaced by circuits at zero angles
  (the identity for a unitary readout; |0><0|-peaked for a measured one);
  ``R = W0 - T(theta_0)`` is frozen and ``W_eff = R + T(theta)``.

Either way the layer equals ``base`` at initialisation. Trainable sites hold ``CoreParam`` /
``AngleParam``; frozen sites hold plain ``nnx.Param`` and are deterministic functions of the
base weight and the config (the TT-SVD, or a fixed key), so adapter files hold only the
trainable tensors and a reload rebuilds the rest.

Forward (``forward="auto"``): when the contraction plan's cost is not clearly below the frozen
matmul's (``plan flops >= batch·d_in·d_out / 3``, always the case at training sizes), ΔW is
folded into the base kernel: ``y = x @ (W0 + alpha·T) + b``, one matmul forward and two
backward (the weight gradient ``x^T g`` is the only extra big product; see
``benchmarks/results/layers.md``). Otherwise ``y = x @ W_anchor + b + alpha · plan.apply(x)``
with the plan from :func:`qtn.contract.get_plan` (path found once per shape, cached).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qtn.contract import get_plan
from qtn.nn.adapter import AdapterLayer
from qtn.nn.linear import Linear
from qtn.nn.quantum import CircuitLayer
from qtn.nn.variables import AngleParam, CoreParam
from qtn.quantum.circuit import Circuit, ansatz_circuit
from qtn.quantum.config import CircuitRunner
from qtn.tn import Skeleton, init_params, mpo_to_dense, tt_svd

MODES = ("delta", "reparam")
TRAIN_CHOICES = ("all", "cores", "circuits")
FORWARDS = ("auto", "fold", "contract")
# Frozen tensors that are not the TT-SVD (delta mode) come from this fixed key, so a reload
# rebuilds them exactly from the config alone.
FROZEN_SEED = 0


def trainable_sites(skel: Skeleton, train: str | Sequence[int]) -> tuple[int, ...]:
    """Sites whose tensors train: ``"all"``, ``"cores"`` (classical), ``"circuits"``, or
    explicit site indices. Raises ValueError naming the bad value."""
    circuits = {k for k, _ in skel.circuits}
    if isinstance(train, str):
        if train not in TRAIN_CHOICES:
            raise ValueError(f"train must be one of {TRAIN_CHOICES} or site indices, got {train!r}")
        keep = {
            "all": lambda k: True,
            "cores": lambda k: k not in circuits,
            "circuits": lambda k: k in circuits,
        }[train]
        sites = tuple(k for k in range(skel.n_sites) if keep(k))
    else:
        sites = tuple(sorted({int(k) for k in train}))
        bad = [k for k in sites if not 0 <= k < skel.n_sites]
        if bad:
            raise ValueError(f"train sites {bad} out of range for {skel.n_sites} sites")
    if not sites:
        raise ValueError(
            f"train={train!r} selects no site of a network with sites "
            f"{list(range(skel.n_sites))} (circuit sites {sorted(circuits)})"
        )
    return sites


def padded_tt_svd(w0: np.ndarray, skel: Skeleton) -> list[np.ndarray]:
    """TT-SVD cores of W0: (d_in, d_out), truncated to the skeleton's bonds and zero-padded up
    to them where the matrix has lower rank (exact: padded directions carry zeros)."""
    mpo, _ = tt_svd(
        np.asarray(w0, np.float64),
        skel.in_dims,
        skel.out_dims,
        max_bond=max(skel.bond_dims, default=1),
    )
    cores = []
    for k, core in enumerate(mpo.cores):
        shape = skel.core_shape(k)
        core = core[: shape[0], :, :, : shape[3]]
        pad = [(0, s - c) for s, c in zip(shape, core.shape, strict=True)]
        cores.append(np.pad(core, pad))
    return cores


def folds_delta(
    skel: Skeleton, batch: int, forward: str = "auto", strategy: str = "auto", dtype=jnp.float32
) -> bool:
    """True: the layer computes ``x @ (W_anchor + alpha·T)`` (ΔW materialised, one matmul);
    False: ``x @ W_anchor + alpha·plan.apply(x)``. ``"auto"`` folds unless passing x through
    the network is clearly cheaper: ``3 · plan flops < batch · d_in · d_out`` (contracting costs
    ~3x its flops forward + backward; folding costs one extra batch x d_in x d_out product, the
    weight gradient, next to the frozen matmul's forward and input gradient)."""
    if forward != "auto":
        return forward == "fold"
    plan = get_plan(skel, batch, dtype, strategy=strategy)
    return plan.strategy == "dense" or 3 * plan.cost.flops >= batch * skel.d_in * skel.d_out


class HybridLinear(AdapterLayer, CircuitLayer):
    """``y = x @ W_eff + b`` with ``W_eff`` as in the module docstring.

    Circuit sites with a measured readout (``probs`` / ``expval``) are evaluated by the
    layer's runner (``qtn.nn.quantum``; exact by default, or shots / noise / an SDK with a
    hardware gradient rule); unitary-readout sites are amplitude-level networks and run only
    in exact simulation.

    x: (..., d_in) -> y: (..., d_out). ``skeleton`` fixes the network (``d_in``/``d_out`` must
    match ``base``); ``train`` picks the trainable sites; ``alpha`` scales T in delta mode (it
    is 1 in reparam mode); ``angle_scale`` scales the U(-pi, pi) initial angles (delta mode;
    reparam circuits start at zero angles); ``strategy`` is passed to ``get_plan``.
    """

    def __init__(
        self,
        base: Linear,
        *,
        skeleton: Skeleton,
        mode: str = "delta",
        train: str | Sequence[int] = "all",
        alpha: float = 1.0,
        angle_scale: float = 1.0,
        strategy: str = "auto",
        forward: str = "auto",
        rngs: nnx.Rngs,
    ):
        name = type(self).__name__
        if mode not in MODES:
            raise ValueError(f"{name}: mode must be one of {MODES}, got {mode!r}")
        if forward not in FORWARDS:
            raise ValueError(f"{name}: forward must be one of {FORWARDS}, got {forward!r}")
        if (skeleton.d_in, skeleton.d_out) != (base.in_features, base.out_features):
            raise ValueError(
                f"{name}: network is {skeleton.d_in}x{skeleton.d_out} (in_dims "
                f"{skeleton.in_dims}, out_dims {skeleton.out_dims}) but the layer is "
                f"{base.in_features}x{base.out_features}"
            )
        self.base = base
        self.skeleton = skeleton
        self._init_quantum()
        self.mode, self.strategy, self.forward = mode, strategy, forward
        self.alpha = float(alpha) if mode == "delta" else 1.0
        self.trained = trainable_sites(skeleton, train)
        classical_trained = [k for k in self.trained if skeleton.circuit_at(k) is None]
        if mode == "delta" and not classical_trained:
            raise ValueError(
                f"{name}: delta mode starts a trainable classical core at zero, but train="
                f"{train!r} trains none (use train='all' or 'cores', or mode='reparam')"
            )
        self.param_dtype = jnp.promote_types(base.kernel[...].dtype, jnp.float32)
        params = self._initial_params(rngs, angle_scale, classical_trained)
        for k in range(skeleton.n_sites):
            pname = skeleton.param_name(k)
            kind = AngleParam if skeleton.circuit_at(k) is not None else CoreParam
            setattr(self, pname, (kind if k in self.trained else nnx.Param)(params[pname]))
        if mode == "reparam":
            w0 = base.kernel[...].astype(self.param_dtype)
            self.residual = nnx.Param(w0 - self.network_weight())

    def _initial_params(
        self, rngs: nnx.Rngs, angle_scale: float, classical_trained: list[int]
    ) -> dict[str, jax.Array]:
        skel, dtype = self.skeleton, self.param_dtype
        if self.mode == "reparam":
            svd = padded_tt_svd(np.asarray(self.base.kernel[...], np.float32), skel)
            cores = {k: c for k, c in enumerate(svd) if skel.circuit_at(k) is None}
            return init_params(
                skel, jax.random.key(FROZEN_SEED), cores=cores, angle_scale=0.0, dtype=dtype
            )
        zero = max(classical_trained)
        kw = dict(zero_site=zero, angle_scale=angle_scale, dtype=dtype)
        live = init_params(skel, rngs.params(), **kw)
        fixed = init_params(skel, jax.random.key(FROZEN_SEED), **kw)
        return {
            skel.param_name(k): (live if k in self.trained else fixed)[skel.param_name(k)]
            for k in range(skel.n_sites)
        }

    def circuits(self) -> list[tuple[str, Circuit, int]]:
        """The measured circuit sites (one evaluation per forward each, batch-independent)."""
        skel = self.skeleton
        return [
            (f"site {k} ({spec.readout} readout)", ansatz_circuit(spec, skel.n_qubits(k)), 0)
            for k, spec in skel.circuits
            if spec.measured
        ]

    def circuit_weights(self) -> dict[str, jax.Array]:
        """Each measured site's angles, flattened as its circuit's weights."""
        skel = self.skeleton
        labels = [label for label, _, _ in self.circuits()]
        sites = [k for k, spec in skel.circuits if spec.measured]
        return {
            label: getattr(self, skel.param_name(k))[...].reshape(-1)
            for label, k in zip(labels, sites, strict=True)
        }

    def circuit_observables(self) -> dict[str, str]:
        """Each measured site's readout (``probs`` or ``expval``)."""
        labels = [label for label, _, _ in self.circuits()]
        readouts = [spec.readout for _, spec in self.skeleton.circuits if spec.measured]
        return dict(zip(labels, readouts, strict=True))

    def check_runner(self, runner: CircuitRunner) -> None:
        """Unitary-readout sites are amplitudes (not measurable): exact executors only."""
        unitary = [k for k, spec in self.skeleton.circuits if not spec.measured]
        if unitary and not runner.executor.exact:
            raise ValueError(
                f"circuit sites {unitary} use readout 'unitary' (amplitudes, not measurable "
                f"on hardware) and cannot run on executor {runner.executor.name!r}; use "
                "readout 'probs' or 'expval'"
            )
        super().check_runner(runner)

    def measured_probabilities(
        self, params: dict[str, jax.Array] | None = None
    ) -> dict[int, jax.Array]:
        """Estimated probabilities (2^n,) of every measured site, from the runner."""
        skel = self.skeleton
        params = self.tn_params() if params is None else params
        out = {}
        for k, spec in skel.circuits:
            if spec.measured:
                circuit = ansatz_circuit(spec, skel.n_qubits(k))
                weights = params[skel.param_name(k)].reshape(-1)
                probs = self.runner.estimate(circuit, weights, measure="probs", key=self.shot_key())
                out[k] = probs[0].astype(self.param_dtype)
        return out

    def tn_params(self) -> dict[str, jax.Array]:
        """The network's arrays ``{"core{k}" | "angles{k}": array}`` (trainable and frozen)."""
        return {n: getattr(self, n)[...] for n in self.skeleton.param_shapes()}

    def network_weight(self, params: dict[str, jax.Array] | None = None) -> jax.Array:
        """Dense ``T(theta)``: (d_in, d_out), circuits contracted by the plan's site steps
        (batch-independent), then the MPO chain. Real part if a circuit is complex."""
        skel = self.skeleton
        params = self.tn_params() if params is None else params
        plan = get_plan(skel, 1, self.param_dtype, strategy="dense")
        sites = plan.site_cores(params, self.measured_probabilities(params))
        cores = [
            sites[k].reshape(skel.core_shape(k)) if k in sites else params[skel.param_name(k)]
            for k in range(skel.n_sites)
        ]
        w = mpo_to_dense(cores)
        return jnp.real(w) if jnp.iscomplexobj(w) else w

    def _anchor(self) -> jax.Array:
        """The frozen part of W_eff: W0 (delta) or the residual R (reparam)."""
        if self.mode == "reparam":
            return self.residual[...]
        return self.base.kernel[...].astype(self.param_dtype)

    def effective_kernel(self) -> jax.Array:
        """``W_eff``: (d_in, d_out) in the adapter's dtype (at least float32)."""
        return self._anchor() + self.alpha * self.network_weight()

    def folds(self, batch: int) -> bool:
        """Whether a batch of ``batch`` rows folds ΔW into the kernel (:func:`folds_delta`)."""
        return folds_delta(self.skeleton, batch, self.forward, self.strategy, self.param_dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        dt = self.base.dtype
        lead = x.shape[:-1]
        batch = math.prod(lead)
        if self.folds(batch):
            y = jnp.matmul(x.astype(dt), self.effective_kernel().astype(dt))
        else:
            plan = get_plan(self.skeleton, batch, self.param_dtype, strategy=self.strategy)
            x2 = x.reshape(batch, x.shape[-1])
            params = self.tn_params()
            measured = self.measured_probabilities(params)
            t = plan.apply(params, x2.astype(self.param_dtype), measured)
            y = jnp.matmul(x.astype(dt), self._anchor().astype(dt))
            y = y + (self.alpha * t).reshape(*lead, -1).astype(dt)
        if self.base.bias is not None:
            y = y + self.base.bias[...].astype(dt).reshape((1,) * (y.ndim - 1) + (-1,))
        return y

    def delta_weight(self) -> jax.Array:
        """``W_eff - W0``: ``alpha · T(theta)`` (delta) or ``R + T(theta) - W0`` (reparam)."""
        if self.mode == "delta":
            return self.alpha * self.network_weight()
        return self.effective_kernel() - self.base.kernel[...].astype(self.param_dtype)
