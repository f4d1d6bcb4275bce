# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Contraction costs of a hybrid layer
#
# A hybrid layer computes `y = x · T(θ)` by contracting the activations `x` with the MPO cores
# and the circuit's gate tensors as *one* network. Whether it is cheaper to pass `x` through
# the cores or to materialise `ΔW` first depends on the number of tokens, the bond and the
# circuit: cotengra decides, once per (structure, shapes), and `CostReport` says what it
# decided. Nothing here touches weights: costs depend on shapes only.
#
# The layer: SmolLM2's 576 × 576 attention projection as a 3-site MPO `(9, 8, 8)`, the middle
# core replaced by a circuit (bond 8 → 6 qubits).

# %%
import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from qtn.contract import STRATEGIES, get_plan
from qtn.contract.plan import resolve_auto
from qtn.tn import CircuitSpec, factorize, hybrid_skeleton

SMALL = os.environ.get("QTN_NB_SMALL", "0") == "1"
OUT = Path(os.environ.get("QTN_NB_OUT", "../runs/notebooks")) / "04_contraction_costs"
OUT.mkdir(parents=True, exist_ok=True)

D = 576
IN_DIMS = OUT_DIMS = factorize(D, 3)
TOKENS = 256 if SMALL else 1024  # batch x sequence length, collapsed
skel = hybrid_skeleton(IN_DIMS, OUT_DIMS, 8, {1: CircuitSpec(4)})
print(f"dims {IN_DIMS} x {OUT_DIMS}, bonds {skel.bond_dims}, circuit: {skel.n_qubits(1)} qubits, "
      f"depth 4; trainable {skel.num_params():,} vs dense {skel.d_in * skel.d_out:,}")

# %% [markdown]
# ## The cost report of the default plan
#
# `strategy="auto"` picks `split` (contract each circuit into its core first: batch-independent
# and small) when the circuit's 4^n entries are no bigger than `x`, else one path over the
# whole network. `materialise` rows: the alternative of building `ΔW` and doing `x @ ΔW`.

# %%
plan = get_plan(skel, TOKENS)
print(f"auto -> {plan.strategy}")
display(Markdown(plan.cost.to_markdown()))

# %% [markdown]
# ## Strategy comparison
#
# The same layer under every strategy. `whole-*` let the path search see every gate (it may
# absorb gates into `x`'s side of the network); `dense` always builds `W`; `apply` is only for
# a layer that is one whole circuit (no classical core), so it is not in this table. A LoRA
# layer of rank 8 costs `tokens · r · (d_in + d_out)` multiply-adds, the frozen dense matmul
# `tokens · d_in · d_out`, for reference.

# %%
lora_flops = TOKENS * 8 * (skel.d_in + skel.d_out)
dense_flops = TOKENS * skel.d_in * skel.d_out
# "apply": one unitary circuit and no classical core; this layer is an MPO chain
rows = [get_plan(skel, TOKENS, strategy=s).cost for s in STRATEGIES if s not in ("auto", "apply")]
lines = ["| strategy | log10 FLOPs | peak elements | width | write | path search s |",
         "|---|---:|---:|---:|---:|---:|"]
lines += [f"| {c.strategy} | {c.log10_flops:.3f} | {c.peak_size:,} | {c.width:.1f} | "
          f"{c.total_write:,} | {c.path_search_s:.3f} |" for c in rows]
lines.append(f"| *LoRA r=8 (x·A·B)* | {math.log10(lora_flops):.3f} | | | | |")
lines.append(f"| *frozen x·W0* | {math.log10(dense_flops):.3f} | | | | |")
display(Markdown("\n".join(lines)))
print(f"auto plan: {plan.cost.flops / lora_flops:.1f}x the multiply-adds of LoRA r=8, "
      f"{plan.cost.flops / dense_flops:.2f}x the frozen matmul; log10 FLOPs "
      f"{plan.cost.log10_flops:.3f} vs {plan.cost.log10_flops_materialise:.3f} materialising ΔW")

# %% [markdown]
# ## FLOPs vs tokens
#
# Passing `x` through the network costs ∝ tokens; materialising `ΔW` costs a fixed amount plus
# a dense matmul ∝ tokens. The crossover is where a path search pays for itself.

# %%
TOKEN_GRID = [1, 16, 256] if SMALL else [1, 4, 16, 64, 256, 1024, 4096]
fig, ax = plt.subplots(figsize=(6.5, 4))
for strategy in ("split", "whole-combo", "dense"):
    ys = [get_plan(skel, t, strategy=strategy).cost.flops for t in TOKEN_GRID]
    ax.loglog(TOKEN_GRID, ys, "o-", label=strategy)
ax.loglog(TOKEN_GRID, [t * 8 * (skel.d_in + skel.d_out) for t in TOKEN_GRID], "k--",
          label="LoRA r=8")
ax.loglog(TOKEN_GRID, [t * skel.d_in * skel.d_out for t in TOKEN_GRID], "k:",
          label="dense x·W (frozen part)")
ax.set(xlabel="tokens (batch · seq)", ylabel="multiply-adds", title="hybrid layer forward cost")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "flops_vs_tokens.png", dpi=120)

# %% [markdown]
# ## FLOPs vs bond and circuit depth
#
# The bond fixes the circuit's width (the middle core is `(b, 8, 8, b)`: `log2(64 b²)/2`
# qubits), the depth its gate count. Both change the contraction.

# %%
BONDS = [2, 4, 8] if SMALL else [2, 4, 8, 16]
DEPTHS = [1, 4] if SMALL else [1, 2, 4, 8, 16]
fig, ax = plt.subplots(figsize=(6.5, 4))
for b in BONDS:
    xs, ys, q = [], [], None
    for depth in DEPTHS:
        s = hybrid_skeleton(IN_DIMS, OUT_DIMS, b, {1: CircuitSpec(depth)})
        c = get_plan(s, TOKENS).cost
        xs.append(depth)
        ys.append(c.log10_flops)
        q = s.n_qubits(1)
    ax.plot(xs, ys, "o-", label=f"bond {b} ({q} qubits, {resolve_auto(s, TOKENS)})")
ax.set(xlabel="circuit depth", ylabel="log10 multiply-adds", title=f"{TOKENS} tokens, auto plan")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "flops_vs_bond_depth.png", dpi=120)

# %% [markdown]
# What we saw at the default sizes (1024 tokens): with bond 8 the middle core `(8, 8, 8, 8)`
# makes passing `x` through the cores as expensive as building `ΔW`, so the best plan
# materialises it and the adapter's forward costs about as much as the frozen matmul — ~35×
# LoRA r=8, although it trains ~15× fewer parameters. The circuit depth barely matters once the
# circuit is contracted into its core (batch-independent); the bond does. Only at a handful of
# tokens (generation) does keeping `x` in the network win.

# %% [markdown]
# ## The contraction tree
#
# cotengra's own plots of the path chosen for the whole network (`whole-combo`): the tent
# plot stacks contractions by order with leaves (x, cores, gates) at the bottom; the ring
# plot shows the network's graph with the tree's order.

# %%
tree = get_plan(skel, TOKENS, strategy="whole-combo").main.tree
print(f"{tree.N} tensors; log10 FLOPs {tree.contraction_cost(log=10):.2f}, "
      f"width {tree.contraction_width():.1f}")
fig, _ = tree.plot_tent(show_and_close=False)
fig.savefig(OUT / "tree_tent.png", dpi=120)
fig, _ = tree.plot_ring(show_and_close=False)
fig.savefig(OUT / "tree_ring.png", dpi=120)

# %% [markdown]
# The same numbers for any config are `qtn cost` (`--json` for scripts). Path searches are
# cached on disk (`qtn.contract.default_cache_dir()`), so every plan above is a lookup the
# second time this notebook runs.
