"""Compiling vs loading from JAX's persistent compilation cache: what a second run of the same
config pays before its first step (issue "a faster research loop", target: <= 2 s).

Each row is one adapter on the offline SmolLM2-135M (the paper sweeps' sentiment config:
batch 4, buckets up to 128 tokens, adapters on q_proj + v_proj of all 30 layers), run twice by
``qtn train`` as separate processes with the same fresh cache folder: the first run compiles
every program of the run (training step per batch shape, evaluation) and writes them to the
cache; the second finds every one there and loads it. Both runs' ``compile`` block of
``results.json`` is recorded: ``lower_s`` (tracing + lowering, Python, never cached) and the
seconds of each program's ``compile()`` (a cache hit in the second run).

On XLA:CPU a cache hit is not free: the cached executable is deserialised, and for a large
program (the paper's QTHA with its QNN unrolled in every one of the 60 adapted modules) that
takes about as long as compiling it. The scanned variant (``train.scan_layers``: one decoder
layer in the program) shows what a smaller program saves.

    python benchmarks/bench_compile_cache.py            # writes results/compile_cache.{json,md}
    python benchmarks/bench_compile_cache.py --only lora
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from machine import run_meta, write_results

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
BASE = REPO / "experiments/paper_qtha/sentiment.yaml"
QTHA_R4 = {"method": "qtha", "target_modules": ["q_proj", "v_proj"], "arch": "ABC", "r": 4,
           "alpha": 8, "bottleneck": 32, "mpo_cores": 3, "mpo_ranks": 4, "qnn_layers": 2}
ROWS: dict[str, tuple[dict, dict]] = {  # name: (adapter, train overrides)
    "lora": ({"method": "lora", "target_modules": ["q_proj", "v_proj"], "r": 8, "alpha": 16},
             {}),
    "qtha-abc-r4": (QTHA_R4, {}),
    "qtha-abc-r4-scanned": (QTHA_R4, {"scan_layers": True}),
}


def run_config(adapter: dict, train: dict, cache: Path, folder: Path) -> Path:
    """A short run of the sentiment config with this adapter and its own compile cache."""
    config = yaml.safe_load(BASE.read_text())
    config["adapter"] = adapter
    config["train"] = {**config["train"], "steps": 4, "warmup_steps": 1, "log_every": 1,
                       "checkpoint_every": 0, "progress": False,
                       "compile_cache_dir": str(cache), **train}
    config["data"] = {**config["data"], "n_eval": 8}
    config["eval"] = {"split": "val", "metric": False}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def train_once(config: Path, out: Path) -> dict:
    """``qtn train`` in a subprocess; its results.json's compile block and wall seconds."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "qtn.cli", "train", "--config", str(config),
                           "--out", str(out)], cwd=REPO, env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:], "wall_s": wall}
    res = json.loads((out / "results.json").read_text())
    return {"compile": res["compile"], "compile_s": res["compile_s"], "wall_s": wall,
            "train_s": res.get("train_s"), "eval_s": res.get("eval_s")}


def bench_row(name: str) -> dict:
    adapter, train = ROWS[name]
    with tempfile.TemporaryDirectory(prefix=f"qtn_cache_{name}_") as tmp:
        tmp = Path(tmp)
        config = run_config(adapter, train, tmp / "xla", tmp)
        cold = train_once(config, tmp / "cold")
        warm = train_once(config, tmp / "warm") if "error" not in cold else {}
        entries = sorted((tmp / "xla").glob("*-cache"))
        return {"adapter": adapter, "train": train, "cold": cold, "warm": warm,
                "cache_entries": len(entries),
                "cache_mib": sum(p.stat().st_size for p in entries) / 2**20}


def render(out: dict) -> str:
    m = out["meta"]
    lines = [
        "# Compiling vs loading from the persistent compilation cache",
        "",
        f"Command: `{m['command']}` — {m['machine']} ({m['cpu_flags']}), {m['date']}; load "
        f"average {m['loadavg_start'][0]:.1f} at start, {m['loadavg_end'][0]:.1f} at end.",
        "",
        "`qtn train` twice per row on the offline SmolLM2-135M (experiments/paper_qtha/"
        "sentiment.yaml: batch 4, buckets up to 128 tokens, 4 steps, 8 validation examples), "
        "each run a fresh process, both with the same cache folder (empty before the first). "
        "*lower* is tracing + lowering (Python, never cached); *programs* the wall seconds of "
        "all `compile()` calls (2 threads; a cache load in the warm run); *slowest* the slowest "
        "program's own seconds.",
        "",
        "| adapter | programs | cold: lower s | cold: programs s | cold: slowest s | warm: lower "
        "s | warm: programs s | warm: slowest s | warm / cold (programs) | cache MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in out["rows"].items():
        cold, warm = r["cold"], r["warm"]
        if "error" in cold or "error" in warm:
            lines.append(f"| {name} | error: {(cold.get('error') or warm.get('error'))[-120:]!r}"
                         " |||||||||")
            continue
        c, w = cold["compile"], warm["compile"]
        lines.append(
            f"| {name} | {c['programs']} | {c['lower_s']:.1f} | {c['compile_s']:.1f} | "
            f"{max(c['per_program'].values()):.1f} | {w['lower_s']:.1f} | {w['compile_s']:.1f} "
            f"| {max(w['per_program'].values()):.1f} | {w['compile_s'] / c['compile_s']:.2f} "
            f"| {r['cache_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=sorted(ROWS), help="run only these rows")
    args = ap.parse_args()
    load0 = os.getloadavg()
    command = "python benchmarks/bench_compile_cache.py"
    command += f" --only {' '.join(args.only)}" if args.only else ""
    out = {"rows": {}}
    for name in ROWS:
        if args.only and name not in args.only:
            continue
        print(f"{name} ...", file=sys.stderr, flush=True)
        out["rows"][name] = bench_row(name)
        out["meta"] = run_meta(command, load0)
        write_results(RESULTS, "compile_cache", out, render(out))


if __name__ == "__main__":
    main()
