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
# # 05 · Sweeps: results, seed averages and the parameters / loss Pareto front
#
# `qtn sweep experiments/<name>/sweep.yaml` runs one `qtn train` per grid point (resumable,
# `--jobs N` in parallel) and collects the sweep folder into `results.jsonl` / `results.csv`
# (one row per point: status, the point's overrides as dotted columns such as `adapter.r`, and
# every key of the run's `results.json`), `plots/` and `summary.md`.
#
# Set `QTN_SWEEP_DIR` to a sweep folder to analyse it. Otherwise this notebook writes a small
# `sweep.yaml` and runs it with the `qtn sweep` command itself: LoRA ranks plus every registered
# hybrid method (`qtn.adapters.METHODS` is checked at run time).
# `QTN_NB_SMALL=1`: a tiny random Llama checkpoint, 2 points, 6 steps each.

# %%
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import yaml
from flax import nnx
from IPython.display import Image, Markdown, display

from qtn.adapters import METHODS
from qtn.hf import default_model_path, load_config, load_tokenizer, model_tensors
from qtn.hf.safetensors_io import save_tensors
from qtn.models import LlamaConfig, LlamaForCausalLM
from qtn.sweep import pareto_front
from qtn.sweep.aggregate import aggregate
from qtn.sweep.collect import collect, read_rows

SMALL = os.environ.get("QTN_NB_SMALL", "0") == "1"
OUT = Path(os.environ.get("QTN_NB_OUT", "../runs/notebooks")) / "05_sweeps"
OUT.mkdir(parents=True, exist_ok=True)
SWEEP_DIR = os.environ.get("QTN_SWEEP_DIR")
print("registered adapter methods:", sorted(METHODS))

# %% [markdown]
# ## A sweep to look at
#
# Small mode needs a checkpoint on disk (each point is a `qtn train` subprocess): a random
# 2-layer Llama with SmolLM2's tokenizer, written in HF layout. Default sizes train the offline
# SmolLM2-135M-Instruct.

# %%
def tiny_checkpoint(folder):
    """Random tiny Llama in HF layout (config.json, model.safetensors, tokenizer).
    Glue: belongs in qtn (e.g. qtn.hf.save_pretrained / a tiny-model helper)."""
    folder = Path(folder)
    if (folder / "model.safetensors").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    src = default_model_path()
    cfg = LlamaConfig.from_dict({
        **load_config(src).to_dict(), "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16,
    })
    model = LlamaForCausalLM(cfg, rngs=nnx.Rngs(0))
    arrays = {k: np.asarray(v) for k, v in model_tensors(model).items()}
    save_tensors(arrays, folder / "model.safetensors", {"format": "pt"})
    (folder / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    load_tokenizer(src).save_pretrained(str(folder))
    return folder


HYBRID_POINTS = [  # kept only for registered methods, with the options they accept
    {"label": "MPO bond 4", "adapter.method": "mpo", "adapter.bond": 4},
    {"label": "circuit-MPO bond 4 depth 2", "adapter.method": "circuit_mpo", "adapter.bond": 4,
     "adapter.depth": 2},
    {"label": "circuit-MPO bond 8 depth 4", "adapter.method": "circuit_mpo", "adapter.bond": 8,
     "adapter.depth": 4},
]


def registered(point):
    method = point["adapter.method"]
    if method not in METHODS:
        return None
    accepted = set(METHODS[method].option_names())
    kept = {k: v for k, v in point.items()
            if not k.startswith("adapter.") or k == "adapter.method" or k[8:] in accepted}
    if len(kept) < len(point):
        print(f"note: {method} does not accept {sorted(set(point) - set(kept))}")
    return kept


if SMALL:
    model = {"path": str(tiny_checkpoint(OUT / "tiny_llama"))}
    data = {"task": "sentiment", "n_train": 32, "n_eval": 16, "max_len": 48, "batch_size": 8}
    train = {"steps": 6, "lr": 1.0e-2, "warmup_steps": 1, "progress": False}
    lora_ranks, seeds, hybrid = [1, 4], [0], HYBRID_POINTS[:1]
    evaluation = {"split": "val", "metric": False}
else:  # 8+ points of ~3 min each (SmolLM2 on a 2-core CPU)
    model = {"path": "default"}
    data = {"task": "sentiment", "n_train": 256, "n_eval": 64, "max_len": 128, "batch_size": 8}
    train = {"steps": 30, "lr": 1.0e-3, "warmup_steps": 3, "progress": False}
    lora_ranks, seeds, hybrid = [2, 4, 8, 16], [0, 1], HYBRID_POINTS
    evaluation = {"split": "test"}

points = [{"label": f"LoRA r={r}", "adapter.method": "lora", "adapter.r": r} for r in lora_ranks]
for p in filter(None, map(registered, hybrid)):
    same = [q for q in points if {**q, "label": None} == {**p, "label": None}]
    if not same:  # identical overrides would be the same point
        points.append(p)
sweep = {
    "name": "notebook_small" if SMALL else "notebook",
    "base": {"model": model, "data": data, "train": train, "eval": evaluation,
             "adapter": {"method": "lora", "target_modules": ["q_proj", "v_proj"]}},
    "out": str((OUT / "sweep").resolve()),
    "grid": {"seed": seeds},
    "points": points,
    "jobs": 2,
}
print(yaml.safe_dump(sweep, sort_keys=False))

# %%
if SWEEP_DIR is None:
    sweep_file = OUT / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep, sort_keys=False))
    cmd = [sys.executable, "-m", "qtn.cli", "sweep", str(sweep_file), "--no-progress"]
    print("$", " ".join(cmd[2:]))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    print(proc.stdout[-2000:], proc.stderr[-2000:] if proc.returncode else "")
    proc.check_returncode()
    SWEEP_DIR = sweep["out"]

# %% [markdown]
# ## Loading it
#
# `results.jsonl` keeps types; a folder without one (a sweep still running) is collected from
# its point folders directly.

# %%
SWEEP_DIR = Path(SWEEP_DIR)
jsonl = SWEEP_DIR / "results.jsonl"
rows = read_rows(jsonl) if jsonl.is_file() else collect(SWEEP_DIR)
manifest = SWEEP_DIR / "sweep.json"
SWEEP_NAME = json.loads(manifest.read_text()).get("name") if manifest.is_file() else SWEEP_DIR.name
status = {s: sum(r.get("status") == s for r in rows) for s in ("done", "failed", "running")}
print(f"sweep {SWEEP_NAME} ({SWEEP_DIR}): {len(rows)} points, {status}")
for r in rows:
    if r.get("status") == "failed":
        print("  failed:", r.get("point"), str(r.get("error"))[:300])

# %% [markdown]
# ## Mean ± std over seeds
#
# `qtn.sweep.aggregate` groups points that differ only in their seed into one variant.

# %%
groups = [g for g in aggregate(rows) if g.n_done]
lines = ["| variant | method | seeds | trainable | % of LoRA r=8 | eval loss | metric |",
         "|---|---|---:|---:|---:|---|---|"]


def pm(stat, fmt=".4f"):
    if stat.mean is None:
        return "-"
    return f"{stat.mean:{fmt}}" + ("" if stat.std is None else f" ± {stat.std:{fmt}}")


for g in groups:
    pct = g.param_pct_of_lora_r8
    lines.append(f"| {g.variant} | {g.method} | {g.n_done} | {g.mean('trainable_params'):,.0f} "
                 f"| {'-' if pct is None else f'{pct:.1f}'} | {pm(g.stats['eval_loss'])} "
                 f"| {pm(g.stats['metric'], '.3f')} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Pareto plot: eval loss vs trainable parameters
#
# One marker per method, error bars = std over seeds, and the Pareto front
# (`qtn.sweep.pareto_front`: no other variant has fewer parameters *and* a lower loss).

# %%
MARKERS = {"lora": "o", "mpo": "s", "circuit_mpo": "^", "qtha": "v"}
fig, ax = plt.subplots(figsize=(7, 4.5))
for method in dict.fromkeys(g.method for g in groups):
    gs = [g for g in groups if g.method == method]
    ax.errorbar([g.mean("trainable_params") for g in gs], [g.mean("eval_loss") for g in gs],
                yerr=[g.stats["eval_loss"].std or 0.0 for g in gs],
                fmt=MARKERS.get(method, "D"), capsize=3, label=method)
    for g in gs:
        ax.annotate(g.variant, (g.mean("trainable_params"), g.mean("eval_loss")), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
front = pareto_front([(g.mean("trainable_params"), g.mean("eval_loss")) for g in groups])
ax.plot(*zip(*front, strict=True), "k--", lw=0.8, label="Pareto front")
ax.set(xscale="log", xlabel="trainable parameters", ylabel="eval loss (mean over seeds)",
       title=f"sweep {SWEEP_NAME}")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "pareto_eval_loss.png", dpi=120)

# %% [markdown]
# ## What `qtn sweep` itself wrote
#
# The same data as the sweep's own plots (`plots/`, PNG + SVG) and `summary.md`, which also
# states whether any hybrid variant (circuit-MPO here) at ≤ 24 % of LoRA r=8's parameters
# matches LoRA.

# %%
for png in sorted((SWEEP_DIR / "plots").glob("pareto_*.png")):
    print(png.name)
    display(Image(filename=str(png)))
if (SWEEP_DIR / "summary.md").is_file():
    display(Markdown((SWEEP_DIR / "summary.md").read_text()))
