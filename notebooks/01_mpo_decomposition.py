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
# # 01 · MPO decomposition of a real SmolLM2 weight
#
# An MPO adapter starts from a TT-SVD of a pretrained weight `W (d_in, d_out)`. How much of
# `W` survives a bond cap depends on how fast the singular values of its *unfoldings* decay.
# Here we take layer 0's `q_proj` of the offline SmolLM2-135M-Instruct, look at its spectra,
# and measure the relative error `‖W − W_mpo‖_F / ‖W‖_F` against the bond dimension, next to a
# Gaussian matrix of the same shape and norm (no structure: the worst case).
#
# Sizes: `QTN_NB_SMALL=1` (set by the tests) uses fewer bonds; the weight is always the real one
# (reading one tensor of the converted checkpoint is instant; the first conversion of the GGUF
# takes ~10 s and is cached).

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from qtn.hf import default_model_path, load_config
from qtn.hf.safetensors_io import iter_tensors, safetensors_files
from qtn.tn import factorize, tt_svd

SMALL = os.environ.get("QTN_NB_SMALL", "0") == "1"
OUT = Path(os.environ.get("QTN_NB_OUT", "../runs/notebooks")) / "01_mpo_decomposition"
OUT.mkdir(parents=True, exist_ok=True)
MODULE = "model.layers.0.self_attn.q_proj.weight"

# %% [markdown]
# ## The weight
#
# HF stores `(out, in)`; qtn's layers compute `y = x W` with `W (d_in, d_out)`, so we transpose.

# %%
folder = default_model_path()
cfg = load_config(folder)
# one tensor at a time, stopping at ours (no model is built)
W = next(a for k, a in iter_tensors(safetensors_files(folder)) if k == MODULE).T.astype(np.float64)
d_in, d_out = W.shape
rng = np.random.default_rng(0)
R = rng.standard_normal(W.shape)
R *= np.linalg.norm(W) / np.linalg.norm(R)  # same Frobenius norm as W
print(f"{MODULE}: {W.shape}, hidden {cfg.hidden_size}, ‖W‖_F = {np.linalg.norm(W):.3f}")

# %% [markdown]
# ## Matrix spectrum
#
# The singular values of `W` itself decide what a rank-r (LoRA-shaped) approximation keeps.

# %%
s_w = np.linalg.svd(W, compute_uv=False)
s_r = np.linalg.svd(R, compute_uv=False)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(s_w / s_w[0], label="SmolLM2 q_proj (layer 0)")
ax.semilogy(s_r / s_r[0], label="Gaussian, same norm")
ax.set(xlabel="index", ylabel="σ_k / σ_0", title="singular values of W")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "matrix_spectrum.png", dpi=120)

# %% [markdown]
# ## Bond spectra of the MPO unfoldings
#
# TT-SVD cuts `W` between sites: bond k sees the matrix whose rows are `(i_1 j_1 … i_k j_k)`
# and columns the rest. Its singular values are what a bond cap truncates. An uncapped
# `tt_svd` is exact; its bond sizes are the unfolding ranks.

# %%
N_SITES = 3
in_dims, out_dims = factorize(d_in, N_SITES), factorize(d_out, N_SITES)
print("in_dims", in_dims, "out_dims", out_dims)


def unfolding_spectra(w, in_dims, out_dims):
    """Singular values of each TT-SVD unfolding of w (glue: belongs in qtn.tn)."""
    n = len(in_dims)
    t = w.reshape(in_dims + out_dims).transpose([a for k in range(n) for a in (k, n + k)])
    rows = 1
    out = []
    for k in range(n - 1):
        rows *= in_dims[k] * out_dims[k]
        out.append(np.linalg.svd(t.reshape(rows, -1), compute_uv=False))
    return out


spec_w = unfolding_spectra(W, in_dims, out_dims)
spec_r = unfolding_spectra(R, in_dims, out_dims)
exact, rep_exact = tt_svd(W, in_dims, out_dims)
print("exact bond dims", rep_exact.bond_dims, f"rel_error {rep_exact.rel_error:.1e}")

fig, axes = plt.subplots(1, len(spec_w), figsize=(5 * len(spec_w), 3.5))
for k, ax in enumerate(np.atleast_1d(axes)):
    ax.semilogy(spec_w[k] / spec_w[k][0], label="SmolLM2")
    ax.semilogy(spec_r[k] / spec_r[k][0], label="Gaussian")
    ax.set(title=f"bond {k} (rank ≤ {len(spec_w[k])})", xlabel="index", ylabel="σ / σ_0")
    ax.legend()
fig.tight_layout()
fig.savefig(OUT / "bond_spectra.png", dpi=120)

# %% [markdown]
# ## Relative error vs bond dimension
#
# For each cap `max_bond` we record the measured error and parameter count of the MPO
# (`TTSVDReport`), and compare with the best rank-r matrix of the same parameter count
# (`r (d_in + d_out)` parameters, error from the tail of the matrix spectrum: Eckart–Young).

# %%
BONDS = [2, 8, 32] if SMALL else [1, 2, 4, 8, 16, 32, 64, 96, 128, 192, 256]
SITES = [3] if SMALL else [2, 3, 4]


def low_rank_error(s, r):
    """Eckart–Young: relative Frobenius error of the best rank-r approximation."""
    return float(np.sqrt(np.sum(s[r:] ** 2) / np.sum(s**2)))


rows = []
for n in SITES:
    ind, outd = factorize(d_in, n), factorize(d_out, n)
    for b in BONDS:
        for name, mat in (("SmolLM2", W), ("Gaussian", R)):
            _, rep = tt_svd(mat, ind, outd, max_bond=b)
            if rep.params >= W.size:  # the cap no longer truncates: as big as W, error ~0
                continue
            rows.append({"matrix": name, "sites": n, "bond": b, "params": rep.params,
                         "rel_error": rep.rel_error, "bonds": rep.bond_dims})
for r in sorted({max(1, row["params"] // (d_in + d_out)) for row in rows}):
    for name, s in (("SmolLM2", s_w), ("Gaussian", s_r)):
        rows.append({"matrix": name, "sites": "low-rank", "bond": r, "params": r * (d_in + d_out),
                     "rel_error": low_rank_error(s, r), "bonds": (r,)})

print(f"{'matrix':9} {'sites':>8} {'bond':>5} {'params':>8} {'compr.':>7} {'rel_err':>8}")
for row in rows:
    if row["sites"] != "low-rank":
        print(f"{row['matrix']:9} {row['sites']:>8} {row['bond']:>5} {row['params']:>8} "
              f"{W.size / row['params']:>7.1f} {row['rel_error']:>8.4f}")

# %%
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, ls in (("SmolLM2", "-"), ("Gaussian", "--")):
    for n in [*SITES, "low-rank"]:
        pts = sorted((r["params"], r["rel_error"]) for r in rows
                     if r["matrix"] == name and r["sites"] == n)
        label = f"{name}, {'rank r' if n == 'low-rank' else f'MPO {n} sites'}"
        ax.plot(*zip(*pts, strict=True), ls, marker="o", ms=3, label=label)
ax.axvline(W.size, color="gray", lw=0.8)
ax.set(xscale="log", xlabel="parameters", ylabel="‖W − Ŵ‖_F / ‖W‖_F",
       title=f"{MODULE.removeprefix('model.')}: error vs parameters")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "error_vs_params.png", dpi=120)

# %% [markdown]
# ## Reading the plots
#
# - The pretrained weight's spectra decay faster than the Gaussian's at every bond, so a
#   capped MPO keeps more of it per parameter than it would of noise — but the decay is slow:
#   attention projections are far from low-rank.
# - At equal parameter count, compare the MPO curves with the rank-r curve (below, for LoRA
#   r=8's budget). On this layer the plain rank-r factorisation is the closer one at every
#   budget we tried: a small-bond MPO of `W0` loses most of it. That is why qtn's `reparam`
#   mode freezes the residual `W0 − T(θ0)` (the model is unchanged at step 0) instead of
#   *replacing* `W0` by its truncated MPO, and why the `delta` mode starts from zero.

# %%
budget = 8 * (d_in + d_out)
mpo_rows = [r for r in rows if r["matrix"] == "SmolLM2" and r["sites"] != "low-rank"]
best = min((r for r in mpo_rows if r["params"] <= budget), key=lambda r: r["rel_error"])
print(f"best MPO within LoRA r=8's budget ({budget:,} params): {best['sites']} sites, "
      f"bond {best['bond']}, {best['params']:,} params, rel_error {best['rel_error']:.3f}; "
      f"rank-8: {low_rank_error(s_w, 8):.3f}")
print("figures in", OUT.resolve())
