"""Contraction plans: ``y = x @ T(theta)`` for a hybrid network, path found once, run in JAX.

Strategies (how the network is split, and what the path search minimizes):

- ``"auto"`` (default): ``"split"`` when every circuit is small (n <= 6 qubits) or its core
  (4^n entries) is no bigger than x (batch * d_in), else ``"whole-combo"``. Both choices are
  the fastest measured in their regime (``benchmarks/results/contract.md``,
  ``benchmarks/results/circuit.md``).
- ``"split"``: turn each circuit into its core first (batch-independent: circuits of at most
  ``LAYERED_MAX_QUBITS`` qubits by a few batched layer products, larger ones by a cotengra
  path over their gates), then the MPO chain with x (path minimizing flops; it may still
  choose to materialise W).
- ``"whole-flops"`` / ``"whole-combo"``: one path over everything (x, cores, every gate),
  minimizing flops or flops + 16 * write.
- ``"dense"``: materialise W (d_in, d_out) from the parameter network, then ``x @ W``.
- ``"apply"``: a layer that is one large unitary circuit (one site, no classical core): the
  circuit is applied to x layer by layer, its rotations grouped into 16 x 16 Kronecker
  factors (``qtn.tn.layered.layered_apply``): ~L·(n/4 + 1) ops instead of a contraction over
  every gate, so it compiles in seconds at 16 qubits and runs as fast. ``"auto"`` picks it
  where it would otherwise pick ``"whole-combo"`` for such a layer.

Circuit sites with a measured readout (``probs`` / ``expval``) are always contracted first,
whatever the strategy: U|0>'s amplitudes come from ``layered_state`` (two matmuls and a signed
gather per layer, for n <= ``MEASURED_LAYERED_MAX_QUBITS``: few ops, fast to compile) or from a
cotengra path over the gates (larger n); the readout map (``qtn.tn.readout``) turns them into
the core, and the core joins the rest as one tensor.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cotengra as ctg
import jax
import jax.numpy as jnp
import numpy as np

from qtn.contract.cost import CostReport, TreeCost, combine, log10
from qtn.contract.optimizer import default_cache_dir, search_tree
from qtn.tn.layered import (
    LAYERED_MAX_QUBITS,
    layered_apply,
    layered_apply_flops,
    layered_flops,
    layered_state,
    layered_state_flops,
    layered_unitary,
)
from qtn.tn.network import Network, circuit_network, layer_network
from qtn.tn.params import network_arrays
from qtn.tn.readout import readout_from_probs, readout_map
from qtn.tn.skeleton import Skeleton

STRATEGIES = ("auto", "split", "whole-flops", "whole-combo", "dense", "apply")
DEFAULT_STRATEGY = "auto"
# Up to here a measured circuit's state is built layer by layer (L (2^(n+h) + 2^(2n-h)) work,
# h = n // 2, but ~3 ops per layer); above it a cotengra path over its gates (less work).
MEASURED_LAYERED_MAX_QUBITS = 16


@dataclass(frozen=True)
class Step:
    """One contraction: a network view and the cotengra tree that contracts it."""

    network: Network
    tree: ctg.ContractionTree

    def run(self, arrays: list[jax.Array]) -> jax.Array:
        # cotengra's own pairwise implementation compiled fastest under XLA (fewer transposes).
        return self.tree.contract(arrays, backend="jax", implementation="cotengra")


@dataclass(frozen=True)
class LayeredStep:
    """A small circuit site densified by ``layered_unitary`` (a few batched ops instead of a
    pairwise contraction per gate; see qtn/tn/layered.py). Its cost is counted analytically."""

    site: int

    def core(self, skel: Skeleton, params: Mapping[str, jax.Array]) -> jax.Array:
        spec = skel.circuit_at(self.site)
        u = layered_unitary(spec, params[skel.param_name(self.site)], skel.n_qubits(self.site))
        return u.T  # G[(l, i), (j, r)] = U[(j, r), (l, i)]

    def cost(self, skel: Skeleton) -> TreeCost:
        spec, n = skel.circuit_at(self.site), skel.n_qubits(self.site)
        stack = spec.depth * 4**n
        return TreeCost(layered_flops(spec, n), 2 * stack, math.log2(stack), 2 * stack)


@dataclass(frozen=True)
class MeasuredStep:
    """A circuit site with a measured readout: U|0> by ``layered_state`` (``amplitudes`` is
    None) or by a cotengra path over its gates, then ``readout_map`` gives the core (flat)."""

    site: int
    amplitudes: Step | None = None

    def core(
        self, skel: Skeleton, params: Mapping[str, jax.Array], probs: jax.Array | None = None
    ) -> jax.Array:
        """The flat core; ``probs`` (2^n,): estimated probabilities to use instead of the exact
        simulation (a circuit executor's output, e.g. shot frequencies)."""
        spec, n = skel.circuit_at(self.site), skel.n_qubits(self.site)
        if probs is not None:
            return readout_from_probs(spec.readout, probs, skel.core_std(self.site))
        if self.amplitudes is None:
            amps = layered_state(spec, params[skel.param_name(self.site)], n)
        else:
            arrays = network_arrays(skel, params, self.amplitudes.network.tensors)
            amps = self.amplitudes.run(arrays)
        return readout_map(spec.readout, amps, skel.core_std(self.site))

    def cost(self, skel: Skeleton) -> TreeCost:
        spec, n = skel.circuit_at(self.site), skel.n_qubits(self.site)
        dim = 2**n
        if self.amplitudes is None:
            state = TreeCost(layered_state_flops(spec, n), 2 * dim, float(n), 2 * spec.depth * dim)
        else:
            state = TreeCost.of(self.amplitudes.tree)
        readout = dim * (2 + n)  # |psi|^2, affine map / butterflies
        return combine([state, TreeCost(readout, 2 * dim, float(n), 2 * dim)])


def _site_core(step, skel: Skeleton, params: Mapping[str, jax.Array], probs) -> jax.Array:
    if isinstance(step, MeasuredStep):
        return step.core(skel, params, probs)
    if isinstance(step, LayeredStep):
        return step.core(skel, params)
    return step.run(network_arrays(skel, params, step.network.tensors))


def _step_cost(step, skel: Skeleton) -> TreeCost:
    if isinstance(step, LayeredStep | MeasuredStep):
        return step.cost(skel)
    return TreeCost.of(step.tree)


class ContractionPlan:
    """A planned layer contraction. ``apply(params, x)`` is pure and jittable; ``cost`` is its
    CostReport; ``steps`` exposes the cotengra trees (site circuits first, then ``main``)."""

    def __init__(
        self,
        skeleton: Skeleton,
        batch: int,
        dtype: np.dtype,
        strategy: str,
        site_steps: dict[int, Step | LayeredStep | MeasuredStep],
        main: Step | None,
        cost: CostReport,
    ):
        self.skeleton, self.batch, self.dtype, self.strategy = skeleton, batch, dtype, strategy
        self.site_steps, self.main, self.cost = site_steps, main, cost

    @property
    def trees(self) -> list[ctg.ContractionTree]:
        """The cotengra trees this plan runs (layered circuit sites have none)."""
        steps = [s for s in self.site_steps.values() if isinstance(s, Step)]
        measured = [s.amplitudes for s in self.site_steps.values() if isinstance(s, MeasuredStep)]
        main = [self.main.tree] if self.main is not None else []  # "apply": no tree
        return [s.tree for s in steps + [m for m in measured if m is not None]] + main

    def site_cores(
        self,
        params: Mapping[str, jax.Array],
        measured: Mapping[int, jax.Array] | None = None,
    ) -> dict[int, jax.Array]:
        """Circuit sites contracted into cores (squeezed site-level shapes). ``measured[k]``:
        estimated probabilities (2^n,) of measured site k from a circuit executor (default:
        the exact simulation)."""
        measured = measured or {}
        return {
            k: _site_core(step, self.skeleton, params, measured.get(k))
            for k, step in self.site_steps.items()
        }

    def apply(
        self,
        params: Mapping[str, jax.Array],
        x: jax.Array,
        measured: Mapping[int, jax.Array] | None = None,
    ) -> jax.Array:
        """x: (batch, d_in) -> y: (batch, d_out). Real: if a circuit is complex, y is the
        real part of the complex contraction (the layer's weights are real by definition).
        ``measured``: as for :meth:`site_cores`."""
        skel = self.skeleton
        if x.shape != (self.batch, skel.d_in):
            raise ValueError(f"x has shape {x.shape}, plan expects {(self.batch, skel.d_in)}")
        if self.strategy == "apply":
            y = layered_apply(skel.circuit_at(0), params[skel.param_name(0)], skel.n_qubits(0), x)
            return jnp.real(y) if jnp.iscomplexobj(y) else y
        cores = self.site_cores(params, measured)
        tensors = self.main.network.tensors
        if self.strategy == "dense":
            w = self.main.run(network_arrays(skel, params, tensors, site_cores=cores))
            w = w.reshape(skel.d_in, skel.d_out)
            w = jnp.real(w) if jnp.iscomplexobj(w) else w
            return x @ w.astype(x.dtype) if w.dtype != x.dtype else x @ w
        arrays = network_arrays(skel, params, tensors, x=x, site_cores=cores)
        y = self.main.run(arrays).reshape(self.batch, skel.d_out)
        return jnp.real(y) if jnp.iscomplexobj(y) else y


def get_plan(
    skeleton: Skeleton,
    batch: int,
    dtype=jnp.float32,
    cache_dir: str | Path | None = None,
    strategy: str = DEFAULT_STRATEGY,
    memory_budget_bytes: int | None = None,
) -> ContractionPlan:
    """The plan for ``x: (batch, d_in)`` of ``dtype``. Cached in-process by (skeleton, batch,
    dtype, strategy, cache_dir): asking again returns the same object; batch-independent
    circuit trees are shared across batch sizes; trees also persist on disk in ``cache_dir``
    (default ``default_cache_dir()``). Raises ValueError if the plan's peak memory exceeds
    ``memory_budget_bytes`` (checked before anything is allocated)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    cache = str(cache_dir if cache_dir is not None else default_cache_dir())
    if strategy == "auto":
        strategy = resolve_auto(skeleton, batch)
    plan = _build_plan(skeleton, int(batch), np.dtype(dtype).name, strategy, cache)
    if memory_budget_bytes is not None and plan.cost.peak_bytes > memory_budget_bytes:
        raise ValueError(
            f"plan peak memory {plan.cost.peak_bytes:,} bytes ({plan.cost.peak_size:,} elements) "
            f"exceeds the budget of {memory_budget_bytes:,} bytes"
        )
    return plan


def resolve_auto(skeleton: Skeleton, batch: int) -> str:
    """The strategy "auto" stands for (see module docstring)."""
    if _one_unitary_circuit(skeleton):
        n = skeleton.n_qubits(0)
        if n > LAYERED_MAX_QUBITS and 4**n > batch * skeleton.d_in:
            return "apply"
    small = all(
        spec.measured
        or skeleton.n_qubits(k) <= LAYERED_MAX_QUBITS
        or 4 ** skeleton.n_qubits(k) <= batch * skeleton.d_in
        for k, spec in skeleton.circuits
    )
    return "split" if small else "whole-combo"


def _one_unitary_circuit(skeleton: Skeleton) -> bool:
    """The layer is a single site holding an unmeasured circuit (no classical core)."""
    return (
        skeleton.n_sites == 1
        and len(skeleton.circuits) == 1
        and not skeleton.circuits[0][1].measured
    )


def _apply_cost(skel: Skeleton, batch: int, dtype_name: str) -> CostReport:
    """Analytic cost of the ``apply`` strategy (state-sized intermediates, no tree)."""
    spec, n = skel.circuit_at(0), skel.n_qubits(0)
    flops = layered_apply_flops(spec, n, batch)
    state = batch * 2**n
    mat = layered_flops(spec, n) + batch * 4**n
    itemsize = np.dtype(dtype_name).itemsize * (2 if skel.is_complex else 1)
    return CostReport(
        strategy="apply",
        batch=batch,
        d_in=skel.d_in,
        d_out=skel.d_out,
        log10_flops=log10(flops),
        flops=flops,
        peak_size=2 * state,
        peak_bytes=2 * state * itemsize,
        width=math.log2(state),
        total_write=spec.depth * (n // 4 + 2) * state,
        trainable_params=skel.num_params(),
        dense_params=skel.d_in * skel.d_out,
        path_search_s=0.0,
        log10_flops_materialise=log10(mat),
        peak_size_materialise=4**n,
    )


def _timed_tree(net: Network, minimize: str, cache: str) -> tuple[Step, float]:
    t0 = time.perf_counter()
    tree, _ = search_tree(net.inputs, net.output, net.sizes, minimize, cache)
    return Step(net, tree), time.perf_counter() - t0


@functools.lru_cache(maxsize=256)
def _build_plan(
    skel: Skeleton, batch: int, dtype_name: str, strategy: str, cache: str
) -> ContractionPlan:
    if strategy == "apply":
        if not _one_unitary_circuit(skel):
            raise ValueError(
                "strategy 'apply' needs a layer that is one unitary circuit (a single site, "
                f"no classical core); got {skel.n_sites} site(s), circuits {skel.circuits}"
            )
        cost = _apply_cost(skel, batch, dtype_name)
        return ContractionPlan(skel, batch, np.dtype(dtype_name), strategy, {}, None, cost)
    searched = 0.0
    site_steps: dict[int, Step | LayeredStep | MeasuredStep] = {}
    # Circuit sites contracted before the main network: measured ones always (their map is not
    # linear), unitary ones when the strategy splits; small ones without a path search.
    for k, spec in skel.circuits:
        if not spec.measured and strategy not in ("split", "dense"):
            continue
        limit = MEASURED_LAYERED_MAX_QUBITS if spec.measured else LAYERED_MAX_QUBITS
        if skel.n_qubits(k) <= limit:
            site_steps[k] = MeasuredStep(k) if spec.measured else LayeredStep(k)
            continue
        tree, dt = _timed_tree(circuit_network(skel, k), "flops", cache)
        site_steps[k] = MeasuredStep(k, tree) if spec.measured else tree
        searched += dt
    if strategy == "split":
        main, dt = _timed_tree(layer_network(skel, batch, "site"), "flops", cache)
    elif strategy == "dense":
        main, dt = _timed_tree(layer_network(skel, None, "site"), "flops", cache)
    else:
        # combo-16 (flops + 16 * write) ran faster than cotengra's default combo (factor 64)
        # and than pure flops on circuit networks (n = 16, L = 2 and 8): memory traffic matters
        # on CPU, but not at 64x the weight of a multiply-add.
        minimize = "flops" if strategy == "whole-flops" else "combo-16"
        main, dt = _timed_tree(layer_network(skel, batch, "qubit"), minimize, cache)
    searched += dt
    cost = _cost_report(skel, batch, dtype_name, strategy, site_steps, main, searched, cache)
    return ContractionPlan(skel, batch, np.dtype(dtype_name), strategy, site_steps, main, cost)


def _matmul_cost(skel: Skeleton, batch: int) -> TreeCost:
    sizes = batch * skel.d_in + skel.d_in * skel.d_out + batch * skel.d_out
    return TreeCost(
        batch * skel.d_in * skel.d_out, sizes, math.log2(batch * skel.d_out), batch * skel.d_out
    )


def _cost_report(
    skel: Skeleton,
    batch: int,
    dtype_name: str,
    strategy: str,
    site_steps: dict[int, Step | LayeredStep | MeasuredStep],
    main: Step,
    searched: float,
    cache: str,
) -> CostReport:
    costs = [_step_cost(s, skel) for s in site_steps.values()] + [TreeCost.of(main.tree)]
    if strategy == "dense":
        costs.append(_matmul_cost(skel, batch))
    total = combine(costs)
    if strategy == "dense":
        mat = total
    else:
        # An estimate (one greedy pass): a hyper search here would double the first call.
        sites = [
            site_steps[k].cost(skel)
            if spec.measured
            else LayeredStep(k).cost(skel)
            if skel.n_qubits(k) <= LAYERED_MAX_QUBITS
            else TreeCost.of(_timed_tree(circuit_network(skel, k), "estimate", cache)[0].tree)
            for k, spec in skel.circuits
        ]
        w_tree = _timed_tree(layer_network(skel, None, "site"), "flops", cache)[0].tree
        mat = combine([*sites, TreeCost.of(w_tree), _matmul_cost(skel, batch)])
    itemsize = np.dtype(dtype_name).itemsize * (2 if skel.is_complex else 1)
    return CostReport(
        strategy=strategy,
        batch=batch,
        d_in=skel.d_in,
        d_out=skel.d_out,
        log10_flops=log10(total.flops),
        flops=total.flops,
        peak_size=total.peak_size,
        peak_bytes=total.peak_size * itemsize,
        width=total.width,
        total_write=total.total_write,
        trainable_params=skel.num_params(),
        dense_params=skel.d_in * skel.d_out,
        path_search_s=searched,
        log10_flops_materialise=log10(mat.flops),
        peak_size_materialise=mat.peak_size,
    )
