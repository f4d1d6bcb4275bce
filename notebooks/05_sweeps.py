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
# # 05 · Sweeps: loading results and the parameter / loss Pareto front
#
# `qtn sweep experiments/<name>/sweep.yaml` runs one `qtn train` per grid point and collects
# them into `<sweep folder>/results.jsonl` (and `results.csv`): one row per point with its
# status, its overrides (`adapter.r`, `seed`, …) as columns and every key of the run's
# `results.json` (`method`, `trainable_params`, `eval_loss`, `metric`, …).
#
# Set `QTN_SWEEP_DIR` to a sweep folder to load it. Without it, this notebook runs a tiny
# sweep in-process (LoRA ranks and every registered hybrid method, through
# `qtn.train.run_training`) and writes the same kind of rows, so the analysis below runs
# everywhere. `QTN_NB_SMALL=1`: a tiny random Llama, 2 ranks, 1 seed, 6 steps.

# %%
import json
import os
import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib.pyplot as plt
from flax import nnx

from qtn.adapters import METHODS
from qtn.hf import default_model_path, load_config, load_tokenizer
from qtn.models import LlamaConfig, LlamaForCausalLM
from qtn.train import run_training

SMALL = os.environ.get("QTN_NB_SMALL", "0") == "1"
OUT = Path(os.environ.get("QTN_NB_OUT", "../runs/notebooks")) / "05_sweeps"
OUT.mkdir(parents=True, exist_ok=True)
SWEEP_DIR = os.environ.get("QTN_SWEEP_DIR")

# %% [markdown]
# ## Loading a sweep folder
#
# `results.jsonl` is preferred (it keeps types and nested values); `results.csv` also works.

# %%
def load_rows(folder):
    """Rows of a sweep folder's results.jsonl (or results.csv). Glue: belongs in qtn.sweep."""
    folder = Path(folder)
    if (folder / "results.jsonl").is_file():
        lines = (folder / "results.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    import csv

    def num(v):
        try:
            return float(v) if v not in ("", None) else None
        except ValueError:
            return v

    with open(folder / "results.csv", newline="") as f:
        return [{k: num(v) for k, v in row.items()} for row in csv.DictReader(f)]


# %% [markdown]
# ## … or a tiny sweep, run here
#
# The grid: LoRA at several ranks, plus the MPO / QTHA adapters when `qtn.adapters.METHODS`
# has them, crossed with seeds. Each point is one `run_training` call in its own folder
# (`points/<name>/`), as `qtn sweep` lays them out.

# %%
if SMALL:
    folder = default_model_path()  # only its tokenizer and config are used
    tiny = LlamaConfig.from_dict({
        **load_config(folder).to_dict(), "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16,
    })
    tokenizer = load_tokenizer(folder)

    def model_loader(config):
        return LlamaForCausalLM(tiny, rngs=nnx.Rngs(config.seed)), tokenizer

    BASE = {"model": {"path": "tiny-random"},
            "data": {"task": "sentiment", "n_train": 32, "n_eval": 16, "max_len": 48,
                     "batch_size": 8},
            "train": {"steps": 6, "lr": 1e-2, "warmup_steps": 1, "progress": False},
            "eval": {"split": "val", "metric": False}}
    GRID = {"lora": [{"r": 1, "alpha": 2.0}, {"r": 4, "alpha": 8.0}]}
    SEEDS = [0]
else:
    model_loader = None
    BASE = {"model": {"path": "default"},
            "data": {"task": "sentiment", "n_train": 256, "n_eval": 64, "max_len": 128,
                     "batch_size": 8},
            "train": {"steps": 30, "lr": 1e-3, "warmup_steps": 3, "progress": False},
            "eval": {"split": "test"}}
    GRID = {"lora": [{"r": r, "alpha": 2.0 * r} for r in (2, 4, 8, 16)]}
    SEEDS = [0, 1]
GRID["mpo"] = [{"bond": b} for b in (2, 4)]
GRID["qtha"] = [{"bond": b, "depth": d} for b in (4, 8) for d in (2, 4)][: 1 if SMALL else 4]
GRID = {m: v for m, v in GRID.items() if m in METHODS}
print("methods in the grid:", list(GRID))


def run_tiny_sweep(root):
    rows = []
    for method, variants in GRID.items():
        accepted = set(METHODS[method].option_names())
        for options in variants:
            options = {k: v for k, v in options.items() if k in accepted}
            variant = method + "".join(f"_{k}{v:g}" for k, v in options.items() if k != "alpha")
            for seed in SEEDS:
                name = f"{variant}_s{seed}"
                config = {**BASE, "name": name, "seed": seed, "out_dir": str(root / "points" / name),
                          "adapter": {"method": method, "target_modules": ["q_proj", "v_proj"],
                                      **options}}
                try:
                    res = run_training(config, model_loader=model_loader)
                    status, error = "done", None
                except Exception as err:  # a failing point is recorded, the others still run
                    res, status, error = {}, "failed", f"{type(err).__name__}: {err}"
                rows.append({"point": name, "status": status, "variant": variant, "seed": seed,
                             **{f"adapter.{k}": v for k, v in options.items()}, **res,
                             "error": error})
    with open(root / "results.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return root


if SWEEP_DIR is None:
    SWEEP_DIR = run_tiny_sweep(OUT / "sweep")
rows = load_rows(SWEEP_DIR)
done = [r for r in rows if r.get("status", "done") == "done" and r.get("eval_loss") is not None]
failed = [r for r in rows if r.get("status") == "failed"]
print(f"{SWEEP_DIR}: {len(rows)} points, {len(done)} done, {len(failed)} failed")
for r in failed:
    print("  failed:", r.get("point"), (r.get("error") or "")[:200])

# %% [markdown]
# ## Mean ± std over seeds
#
# Points that differ only in their seed are replicas of one *variant*.

# %%
def variant_of(row):
    if row.get("variant"):
        return str(row["variant"])
    keys = sorted(k for k in row if k.startswith("adapter.") and k != "adapter.target_modules")
    return f"{row.get('method')}" + "".join(f" {k[8:]}={row[k]}" for k in keys)


groups = defaultdict(list)
for r in done:
    groups[variant_of(r)].append(r)


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


summary = []
for variant, rs in sorted(groups.items(), key=lambda kv: kv[1][0]["trainable_params"]):
    loss, loss_sd = mean_std([r["eval_loss"] for r in rs])
    metric, metric_sd = mean_std([r.get("metric") for r in rs])
    summary.append({"variant": variant, "method": rs[0]["method"], "n": len(rs),
                    "params": rs[0]["trainable_params"], "eval_loss": loss, "eval_loss_sd": loss_sd,
                    "metric": metric, "metric_sd": metric_sd,
                    "metric_name": rs[0].get("metric_name")})
print(f"{'variant':28} {'n':>2} {'params':>9} {'eval loss':>16} {'metric':>14}")
for s in summary:
    m = "-" if s["metric"] is None else f"{s['metric']:.3f} ± {s['metric_sd']:.3f}"
    print(f"{s['variant']:28} {s['n']:>2} {s['params']:>9,} "
          f"{s['eval_loss']:>8.4f} ± {s['eval_loss_sd']:.4f} {m:>14}")

# %% [markdown]
# ## Pareto plot: eval loss vs trainable parameters
#
# One marker per method; error bars are the std over seeds. The front joins the variants that
# no other variant beats with fewer (or equal) parameters and a lower loss.

# %%
def pareto_front(points):
    """Indices of (x, y) points not dominated by one with x' <= x and y' < y (minimise both).
    Glue: belongs in qtn.sweep next to its plots."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


MARKERS = {"lora": "o", "mpo": "s", "qtha": "^", "none": "x"}
fig, ax = plt.subplots(figsize=(7, 4.5))
for method in sorted({s["method"] for s in summary}):
    ss = [s for s in summary if s["method"] == method]
    ax.errorbar([s["params"] for s in ss], [s["eval_loss"] for s in ss],
                yerr=[s["eval_loss_sd"] for s in ss], fmt=MARKERS.get(method, "D"), capsize=3,
                label=method)
    for s in ss:
        ax.annotate(s["variant"], (s["params"], s["eval_loss"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
front = pareto_front([(s["params"], s["eval_loss"]) for s in summary])
ax.plot([summary[i]["params"] for i in front], [summary[i]["eval_loss"] for i in front],
        "k--", lw=0.8, label="Pareto front")
ax.set(xscale="log", xlabel="trainable parameters", ylabel="eval loss",
       title=f"sweep {Path(SWEEP_DIR).name}: loss vs parameters")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "pareto_eval_loss.png", dpi=120)

# %% [markdown]
# ## Task metric vs parameters (when the sweep measured one)

# %%
with_metric = [s for s in summary if s["metric"] is not None]
if with_metric:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in sorted({s["method"] for s in with_metric}):
        ss = [s for s in with_metric if s["method"] == method]
        ax.errorbar([s["params"] for s in ss], [s["metric"] for s in ss],
                    yerr=[s["metric_sd"] for s in ss], fmt=MARKERS.get(method, "D"), capsize=3,
                    label=method)
    ax.set(xscale="log", xlabel="trainable parameters", ylabel=with_metric[0]["metric_name"],
           title="task metric vs parameters")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "pareto_metric.png", dpi=120)
else:
    print("no task metric in these rows")
