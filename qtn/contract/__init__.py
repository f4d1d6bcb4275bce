"""qtn.contract: cotengra-planned JAX contraction of hybrid networks, and their costs.

API:

- ``get_plan(skeleton, batch, dtype=float32, cache_dir=None, strategy="auto",
  memory_budget_bytes=None) -> ContractionPlan``. Cached in-process (same args -> same
  object, no search) and on disk (cotengra ReusableHyperOptimizer under ``cache_dir``, default
  ``default_cache_dir()``). Circuit trees are batch-independent and shared across batch sizes.
- ``plan.apply(params, x: (batch, d_in)) -> (batch, d_out)``: pure, jittable, differentiable
  w.r.t. every array in ``params``; real output (real part if a circuit is complex).
- ``plan.cost -> CostReport`` (log10_flops, peak_size, peak_bytes, width, total_write,
  trainable_params, dense_params, path_search_s, materialise-ΔW comparison;
  ``to_dict()`` / ``to_markdown()``); ``plan.trees``: the cotengra trees.
- ``STRATEGIES``: "auto" (default: "split" for small circuits, else "whole-combo"), "split",
  "whole-flops", "whole-combo", "dense".
"""

from qtn.contract.cost import CostReport, TreeCost
from qtn.contract.optimizer import default_cache_dir, reusable_optimizer, search_tree
from qtn.contract.plan import DEFAULT_STRATEGY, STRATEGIES, ContractionPlan, get_plan

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "ContractionPlan",
    "CostReport",
    "TreeCost",
    "default_cache_dir",
    "get_plan",
    "reusable_optimizer",
    "search_tree",
]
