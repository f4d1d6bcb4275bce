"""What a training step's program costs to compile, part by part of the paper's QTHA adapter,
with the layers' adapter arrays stacked (qtn's default) and per layer (before).

The main job's training program (experiments/main/config.yaml: 2 packed rows of 256 tokens,
layers scanned, logits at loss positions, AdamW) on SmolLM2-135M's architecture (random
weights: compile time does not depend on them), adapters on q_proj + v_proj of all 30 layers.
Each row is one adapter in its own subprocess per path (fresh JAX, no compile cache): the LoRA
reference and QTHA's ablations, which add its parts one at a time (module docstring of
``qtn.nn.paper_qtha``): ``A`` = the two MPOs, ``BC`` = MLPs + QNN + CW, ``AB`` = MPOs + MLPs +
CW, ``ABC`` = all of it. Recorded per row and path: trainable arrays, the compiled program's
kernels (XLA fusions), lowering and compile seconds, and the median of 3 steps after one
warm-up step (the step as ``qtn train`` calls it, including cutting the stacked arrays back
into the per-layer state).

XLA:CPU emits and compiles every kernel of a program separately, so compile time follows the
kernel count. *per layer* differentiates every layer's adapter arrays on their own: each is a
kernel twice (its gradient cut out of the scan's stacked gradient, its update added), 2.3
kernels per array. *stacked* (``qtn.train.stacked``, ``TrainStep(stack_layers=True)``)
differentiates one stack per kind of array.

    python benchmarks/bench_step_compile.py    # writes benchmarks/results/step_compile.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench_gpu import load_config
from machine import run_meta, write_results

RESULTS = Path(__file__).parent / "results"
TARGETS = ["q_proj", "v_proj"]
ROWS_, SEQ, SEGMENTS = 2, 256, 4
MPO = {"bottleneck": 32, "mpo_cores": 3, "mpo_ranks": 4}
VARIANTS = {  # name: (method, options, what it adds over LoRA's program)
    "lora": ("lora", {"r": 8, "alpha": 16}, "reference"),
    "qtha-A": ("qtha", {"arch": "A", "r": 4, "alpha": 8, **MPO}, "MPO_A, MPO_B"),
    "qtha-BC": ("qtha", {"arch": "BC", "r": 4, "alpha": 8, "qnn_layers": 2},
                "MLP_A, MLP_B, CW, QNN (C++ kernel) + QW"),
    "qtha-AB": ("qtha", {"arch": "AB", "r": 4, "alpha": 8, **MPO}, "MPOs, MLPs, CW"),
    "qtha-ABC": ("qtha", {"arch": "ABC", "r": 4, "alpha": 8, "qnn_layers": 2, **MPO},
                 "all: the main job's QTHA"),
}


def packed_batch(vocab: int) -> dict:
    """A packed batch of the main job's shape: ``SEGMENTS`` examples per row, positions
    restarting per example, a tenth of the positions in the loss (seeded)."""
    import numpy as np

    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab, (ROWS_, SEQ)).astype(np.int32)
    seg_len = SEQ // SEGMENTS
    seg = np.repeat(np.arange(1, SEGMENTS + 1), seg_len)[None].repeat(ROWS_, 0).astype(np.int32)
    pos = np.tile(np.arange(seg_len), SEGMENTS)[None].repeat(ROWS_, 0).astype(np.int32)
    in_loss = (rng.random((ROWS_, SEQ)) < 0.1).astype(np.int32)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "positions": pos,
            "segment_ids": seg, "targets": ids, "loss_mask": in_loss}


PATHS = ("stacked", "per-layer")


def worker(name: str, path: str) -> dict:
    import jax
    from flax import nnx

    from qtn.adapters import inject
    from qtn.models.config import LlamaConfig
    from qtn.models.llama import LlamaForCausalLM
    from qtn.nn.variables import AdapterParam
    from qtn.train.config import TrainConfig
    from qtn.train.optim import make_optimizer
    from qtn.train.steps import PACKED_KEYS, TrainStep

    cfg = load_config(tiny=False)
    model = LlamaForCausalLM(LlamaConfig.from_dict(cfg), rngs=nnx.Rngs(0))
    method, opts, _ = VARIANTS[name]
    inject(model, method, TARGETS, rngs=nnx.Rngs(0), **opts)
    model.scan_layers = True
    leaves = len(jax.tree.leaves(nnx.state(model, AdapterParam)))
    optimizer, _ = make_optimizer(TrainConfig(lr=1e-4), model)
    step = TrainStep(model, optimizer, batch_keys=PACKED_KEYS, stack_layers=path == "stacked")
    if (step.stack is not None) != (path == "stacked"):
        raise RuntimeError(f"{name}: the {path} path was not taken")
    batch = packed_batch(cfg["vocab_size"])
    step.inputs.pin([batch])
    t = time.perf_counter()
    _, lowered = step.lower(batch)
    lower_s = time.perf_counter() - t
    text = lowered.as_text()
    t = time.perf_counter()
    compiled = lowered.compile()
    compile_s = time.perf_counter() - t
    hlo = compiled.as_text()
    step.install(step.shape_key(batch), compiled)
    jax.block_until_ready(step(batch)["loss"])  # warm-up
    times = []
    for _ in range(3):
        t = time.perf_counter()
        jax.block_until_ready(step(batch)["loss"])
        times.append(time.perf_counter() - t)
    return {"step_s": sorted(times)[1], "trainable_leaves": leaves,
            "kernels_by_op": kernels_by_op(hlo),
            "lower_s": lower_s, "compile_s": compile_s,
            "stablehlo_ops": len(re.findall(r"stablehlo\.\w+", text)),
            "kernels": len(re.findall(r"kind=k\w+", hlo)),
            "custom_calls": hlo.count("custom-call(")}


def kernels_by_op(hlo: str, top: int = 4) -> dict[str, int]:
    """The entry computation's kernels counted by the JAX op they come from (``op_name``
    metadata, digits folded), the ``top`` most frequent: where the kernels come from."""
    import collections

    entry = hlo[hlo.index("ENTRY"):]
    names = collections.Counter()
    for line in entry.splitlines():
        if "kind=k" in line:
            found = re.search(r'op_name="([^"]+)"', line)
            names[re.sub(r"\d+", "N", found.group(1)) if found else "?"] += 1
    return dict(names.most_common(top))


def _run(name: str, path: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", name, path], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        return {"error": f"exit code {done.returncode}: {done.stderr[-1000:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=sorted(VARIANTS), help="run only these rows")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    load = os.getloadavg()
    rows: dict[str, dict] = {}
    for name in args.only or VARIANTS:
        rows[name] = {}
        for path in PATHS:
            print(f"{name} ({path}) ...", flush=True)
            rows[name][path] = _run(name, path)
            print(f"  {rows[name][path]}", flush=True)
    out = {"meta": run_meta("python benchmarks/bench_step_compile.py", load), "rows": rows}
    write_results(RESULTS, "step_compile", out, render(out))


def render(out: dict) -> str:
    meta, rows = out["meta"], out["rows"]
    lines = [
        "# Compiling the main job's training step: adapter arrays stacked vs per layer",
        "",
        f"Command: `{meta['command']}` — {meta['machine']} ({meta['cpu_flags']}), "
        f"{meta['date']}; load average {meta['loadavg_start'][0]:.1f} at start, "
        f"{meta['loadavg_end'][0]:.1f} at end.",
        "",
        f"One training step ({ROWS_} packed rows of {SEQ} tokens, layers scanned, AdamW) on "
        "SmolLM2-135M's architecture, adapters on q_proj + v_proj of 30 layers; each row and "
        "path its own process, no compile cache. *kernels*: XLA fusions in the compiled "
        "program; *step s*: median of 3 steps after a warm-up. *stacked*: qtn's default "
        "(`qtn.train.stacked`); *per layer*: every layer's adapter arrays differentiated on "
        "their own (before).",
        "",
        "| adapter | adds | trainable arrays | kernels: per layer | kernels: stacked "
        "| compile s: per layer | compile s: stacked | compile: stacked / per layer "
        "| step s: per layer | step s: stacked |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        old, new = r.get("per-layer", {}), r.get("stacked", {})
        if "error" in old or "error" in new:
            why = old.get("error") or new.get("error")
            lines.append(f"| {name} | error: {why[:200]!r} |||||||||")
            continue
        lines.append(
            f"| {name} | {VARIANTS[name][2]} | {new['trainable_leaves']:,} | "
            f"{old['kernels']:,} | {new['kernels']:,} | {old['compile_s']:.1f} | "
            f"{new['compile_s']:.1f} | {new['compile_s'] / old['compile_s']:.2f} | "
            f"{old['step_s']:.2f} | {new['step_s']:.2f} |")
    lines += ["", "Where the kernels come from (the compiled step's top-level kernels by the JAX "
              "op that made them; *unstack*: an array's gradient cut out of the scanned layers' "
              "stacked gradient; *add*: an update added to an array):", ""]
    for name, r in rows.items():
        for path in PATHS:
            if "kernels_by_op" in r.get(path, {}):
                top = "; ".join(f"`{op}` {n:,}" for op, n in r[path]["kernels_by_op"].items())
                lines.append(f"- {name}, {path}: {top}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
