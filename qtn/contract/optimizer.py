"""Path search: cotengra's disk-cached ReusableHyperOptimizer and an in-process tree cache."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import cotengra as ctg
import platformdirs

MINIMIZE = ("flops", "combo", "combo-16", "write", "size")


def default_cache_dir() -> Path:
    """``<user cache dir>/qtn/cotengra`` (platformdirs); created on first search."""
    return Path(platformdirs.user_cache_dir("qtn")) / "cotengra"


@functools.lru_cache(maxsize=16)
def reusable_optimizer(
    cache_dir: str, minimize: str = "flops", max_repeats: int = 32, max_time: float = 2.0
) -> ctg.ReusableHyperOptimizer:
    """One optimizer per (directory, objective, budget). Results are keyed on disk by a hash
    of (inputs, output, sizes), so a repeated structure loads its tree instead of searching.
    Serial (``parallel=False``): the machines this runs on are small and shared."""
    if minimize not in MINIMIZE:
        raise ValueError(f"unknown minimize {minimize!r}; choose from {MINIMIZE}")
    # cotengra's disk key is the contraction alone, so each objective / budget gets its own
    # subdirectory (otherwise a 'combo' request would silently load a 'flops' tree).
    directory = Path(cache_dir) / f"{minimize}-r{max_repeats}-t{max_time:g}"
    directory.mkdir(parents=True, exist_ok=True)
    return ctg.ReusableHyperOptimizer(
        directory=str(directory),
        # greedy trials only: on circuit networks (~100+ gates) kahypar trials cost ~10x more
        # for no better runtime (measured at n=16, L=8), and first-call time is a target.
        methods=("greedy",),
        minimize=minimize,
        max_repeats=max_repeats,
        max_time=max_time,
        parallel=False,
        optlib="random",
        progbar=False,
    )


@functools.lru_cache(maxsize=512)
def search_tree(
    inputs: tuple[tuple[str, ...], ...],
    output: tuple[str, ...],
    sizes: tuple[tuple[str, int], ...],
    minimize: str,
    cache_dir: str,
) -> tuple[ctg.ContractionTree, float]:
    """(tree, seconds spent) for one contraction; cached in-process by the exact structure,
    so asking again is free. Tiny networks (<= 3 tensors) skip the hyper search;
    ``minimize="estimate"`` is one greedy pass (milliseconds, for cost comparisons only)."""
    t0 = time.perf_counter()
    size_dict = dict(sizes)
    if len(inputs) <= 3:
        tree = ctg.array_contract_tree(inputs, output, size_dict, optimize="optimal")
    elif minimize == "estimate":
        tree = ctg.array_contract_tree(inputs, output, size_dict, optimize="greedy")
    else:
        opt = reusable_optimizer(cache_dir, minimize)
        tree = ctg.array_contract_tree(inputs, output, size_dict, optimize=opt)
    return tree, time.perf_counter() - t0
