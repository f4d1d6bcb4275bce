"""CostReport numbers are cotengra's numbers; a hand-checked case has exact FLOPs."""

import math

import jax
import jax.numpy as jnp
import pytest

from qtn.contract import get_plan
from qtn.tn import CircuitSpec, hybrid_skeleton


def test_report_equals_cotengra_tree(tmp_path):
    skel = hybrid_skeleton((4, 8, 4), (4, 8, 4), 4, {1: CircuitSpec(3)})
    plan = get_plan(skel, 10, cache_dir=tmp_path, strategy="whole-flops")
    (tree,) = plan.trees
    cost = plan.cost
    assert cost.flops == tree.total_flops()
    assert cost.log10_flops == pytest.approx(math.log10(tree.total_flops()))
    assert cost.peak_size == tree.peak_size()
    assert cost.peak_bytes == 4 * tree.peak_size()
    assert cost.width == tree.contraction_width()
    assert cost.total_write == tree.total_write()
    assert cost.trainable_params == 4 * 4 * 4 + 3 * 5 + 4 * 4 * 4
    assert cost.dense_params == 128 * 128
    assert cost.path_search_s >= 0.0


def test_hand_checked_matmul(tmp_path):
    """x: (4, 2) through one classical core (2, 3): 4*2*3 = 24 multiply-adds, peak
    8 + 6 + 12 = 26 elements (inputs and output alive), 12 elements written."""
    skel = hybrid_skeleton((2,), (3,), 1)
    cost = get_plan(skel, 4, cache_dir=tmp_path, strategy="split").cost
    assert (cost.flops, cost.peak_size, cost.total_write) == (24, 26, 12)
    assert cost.log10_flops == pytest.approx(math.log10(24))
    assert cost.peak_bytes == 26 * 4
    dense = get_plan(skel, 4, jnp.float64, cache_dir=tmp_path, strategy="dense").cost
    assert dense.flops == 24 and dense.peak_bytes == 26 * 8


def test_split_sums_steps_and_compares_materialise(tmp_path):
    skel = hybrid_skeleton((8, 8, 8), (8, 8, 8), 8, {1: CircuitSpec(4)})
    plan = get_plan(skel, 1024, cache_dir=tmp_path, strategy="split")
    (tree,) = plan.trees  # the 6-qubit circuit is densified by layer products, not a tree
    layered = plan.site_steps[1].cost(skel)
    # 4 layers of 64 x 64 Kronecker builds, 4 + 3 matmuls of 64 x 64
    assert layered.flops == 4 * sum(4 ** (q + 1) for q in range(1, 6)) + 7 * 64**3
    assert plan.cost.flops == tree.total_flops() + layered.flops
    assert plan.cost.peak_size == max(tree.peak_size(), layered.peak_size)
    dense = get_plan(skel, 1024, cache_dir=tmp_path, strategy="dense").cost
    assert plan.cost.log10_flops_materialise == pytest.approx(dense.log10_flops)
    # materialising includes the (1024 x 512) @ (512 x 512) matmul
    assert dense.flops >= 1024 * 512 * 512


def test_report_dict_and_markdown(tmp_path):
    skel = hybrid_skeleton((4, 4), (4, 4), 2)
    cost = get_plan(skel, 2, cache_dir=tmp_path).cost
    d = cost.to_dict()
    for key in (
        "log10_flops",
        "peak_size",
        "width",
        "trainable_params",
        "path_search_s",
        "peak_bytes",
        "total_write",
        "dense_params",
        "log10_flops_materialise",
    ):
        assert key in d
    md = cost.to_markdown()
    assert md.startswith("| quantity | value |") and "log10 FLOPs" in md
    assert jax.tree.leaves(d)  # plain values only
