"""Planned contraction: x -> y equals x @ W for every strategy, gradients match finite
differences (fp64), plans are cached in-process and on disk, the memory guard raises."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.contract import STRATEGIES, get_plan
from qtn.contract.optimizer import search_tree
from qtn.contract.plan import resolve_auto
from qtn.tn import CircuitSpec, hybrid_skeleton, init_params, to_dense

SKELETONS = {
    "hea": hybrid_skeleton((9, 8, 8), (9, 8, 8), 8, {1: CircuitSpec(2)}),
    "general": hybrid_skeleton(
        (4, 4, 4), (4, 4, 4), 4, {1: CircuitSpec(2, "general", "cnot", "brickwork")}
    ),
    "two-circuits": hybrid_skeleton(
        (2, 4, 4, 2), (2, 4, 4, 2), 4, {1: CircuitSpec(1), 2: CircuitSpec(2)}
    ),
}


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s != "apply"])
@pytest.mark.parametrize("name", list(SKELETONS))
def test_apply_equals_dense_matmul(name, strategy, tmp_path):
    skel = SKELETONS[name]
    params = init_params(skel, jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (6, skel.d_in))
    plan = get_plan(skel, 6, cache_dir=tmp_path, strategy=strategy)
    y = jax.jit(plan.apply)(params, x)
    assert y.shape == (6, skel.d_out) and y.dtype == jnp.float32
    ref = np.asarray(x) @ np.asarray(to_dense(skel, params))
    np.testing.assert_allclose(np.asarray(y), ref, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("strategy", ["split", "whole-combo"])
@pytest.mark.parametrize("name", ["hea", "general"])
def test_gradients_match_finite_differences(name, strategy, tmp_path, x64):
    skel = SKELETONS[name]
    params = init_params(skel, jax.random.key(0), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(1), (3, skel.d_in), jnp.float64)
    r = jax.random.normal(jax.random.key(2), (3, skel.d_out), jnp.float64)
    plan = get_plan(skel, 3, jnp.float64, cache_dir=tmp_path, strategy=strategy)

    @jax.jit
    def loss(p):
        return jnp.sum(jnp.sin(plan.apply(p, x)) * r)

    grads = jax.grad(loss)(params)
    eps = 1e-6
    for name_ in params:  # every core and every angle array, one random direction each
        d = jax.random.normal(jax.random.key(len(name_)), params[name_].shape, jnp.float64)
        up = loss({**params, name_: params[name_] + eps * d})
        down = loss({**params, name_: params[name_] - eps * d})
        fd = float(up - down) / (2 * eps)
        an = float(jnp.vdot(grads[name_], d))
        assert abs(fd - an) <= 1e-6 * max(1.0, abs(an)), (name_, fd, an)


def test_plan_cache_in_process_and_across_batches(tmp_path):
    skel = hybrid_skeleton((4, 32, 4), (4, 32, 4), 4, {1: CircuitSpec(1)})  # 7 qubits: a tree
    plan = get_plan(skel, 32, cache_dir=tmp_path, strategy="split")
    t0 = time.perf_counter()
    again = get_plan(skel, 32, cache_dir=tmp_path, strategy="split")
    assert again is plan
    assert time.perf_counter() - t0 < 0.01
    other = get_plan(skel, 64, cache_dir=tmp_path, strategy="split")
    assert other is not plan and other.batch == 64
    # the batch-independent circuit tree is shared, not searched again
    assert other.site_steps[1].tree is plan.site_steps[1].tree
    assert len(plan.trees) == 2


def test_disk_cache_reused_after_process_cache_cleared(tmp_path):
    skel = SKELETONS["hea"]
    first = get_plan(skel, 16, cache_dir=tmp_path, strategy="whole-combo")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files, "cotengra wrote no cache entry"
    search_tree.cache_clear()
    from qtn.contract import plan as plan_module

    plan_module._build_plan.cache_clear()
    second = get_plan(skel, 16, cache_dir=tmp_path, strategy="whole-combo")
    assert second is not first
    assert second.main.tree.get_path() == first.main.tree.get_path()


def test_zero_core_gives_zero_output(tmp_path):
    skel = SKELETONS["hea"]
    params = init_params(skel, jax.random.key(0), zero_site=0)
    plan = get_plan(skel, 4, cache_dir=tmp_path)
    y = plan.apply(params, jnp.ones((4, skel.d_in)))
    assert float(jnp.abs(y).max()) == 0.0


def test_auto_strategy_choice():
    small = SKELETONS["hea"]
    assert resolve_auto(small, 1) == "split"  # 6 qubits: densified by layer products
    big = hybrid_skeleton((2**10,), (2**10,), 1, {0: CircuitSpec(2)})
    assert resolve_auto(big, 1) == "apply"  # one 10-qubit circuit is the layer; 4^10 > 1024
    assert resolve_auto(big, 1024) == "split"  # 4^10 <= 1024 * 1024
    mpo = hybrid_skeleton((4, 32, 4), (4, 32, 4), 4, {1: CircuitSpec(2)})
    assert resolve_auto(mpo, 1) == "whole-combo"  # a 7-qubit circuit core inside an MPO


@pytest.mark.parametrize(
    "spec", [CircuitSpec(3), CircuitSpec(2, "general", "cnot", "brickwork")]
)
def test_apply_strategy_equals_dense_and_its_gradients(spec, tmp_path, x64):
    """A layer that is one 9-qubit circuit (groups 4 + 4 + 1 in layered_apply): y = x U^T for
    a real and a complex ansatz, gradients by finite differences."""
    skel = hybrid_skeleton((2**9,), (2**9,), 1, {0: spec})
    params = init_params(skel, jax.random.key(0), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(1), (3, skel.d_in), jnp.float64)
    plan = get_plan(skel, 3, jnp.float64, cache_dir=tmp_path)
    assert plan.strategy == "apply" and plan.trees == [] and plan.cost.flops > 0
    y = jax.jit(plan.apply)(params, x)
    ref = np.asarray(x) @ np.asarray(to_dense(skel, params))
    np.testing.assert_allclose(np.asarray(y), ref, atol=1e-10)
    r = jax.random.normal(jax.random.key(2), y.shape, jnp.float64)
    loss = jax.jit(lambda p: jnp.sum(jnp.sin(plan.apply(p, x)) * r))
    d = jax.random.normal(jax.random.key(3), params["angles0"].shape, jnp.float64)
    eps = 1e-6
    up = loss({"angles0": params["angles0"] + eps * d})
    down = loss({"angles0": params["angles0"] - eps * d})
    an = float(jnp.vdot(jax.grad(loss)(params)["angles0"], d))
    assert an == pytest.approx(float(up - down) / (2 * eps), rel=1e-6, abs=1e-8)
    with pytest.raises(ValueError, match="one unitary circuit"):
        get_plan(SKELETONS["hea"], 3, cache_dir=tmp_path, strategy="apply")


def test_memory_guard_and_bad_args(tmp_path):
    skel = SKELETONS["hea"]
    with pytest.raises(ValueError, match="exceeds the budget of 1,000 bytes"):
        get_plan(skel, 8, cache_dir=tmp_path, memory_budget_bytes=1000)
    assert get_plan(skel, 8, cache_dir=tmp_path, memory_budget_bytes=10**9).batch == 8
    with pytest.raises(ValueError, match="'fastest'"):
        get_plan(skel, 8, cache_dir=tmp_path, strategy="fastest")
    with pytest.raises(ValueError, match="got 0"):
        get_plan(skel, 0, cache_dir=tmp_path)
    plan = get_plan(skel, 8, cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"\(4, 576\)"):
        plan.apply(init_params(skel, jax.random.key(0)), jnp.ones((4, 576)))
