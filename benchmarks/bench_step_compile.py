"""What a training step's program costs to compile, part by part of the paper's QTHA adapter.

The main job's training program (experiments/main/config.yaml: 2 packed rows of 256 tokens,
layers scanned, logits at loss positions, AdamW) on SmolLM2-135M's architecture (random
weights: compile time does not depend on them), adapters on q_proj + v_proj of all 30 layers.
Each row is one adapter in its own subprocess (fresh JAX, no compile cache): the LoRA reference
and QTHA's ablations, which add its parts one at a time (module docstring of
``qtn.nn.paper_qtha``): ``A`` = the two MPOs, ``BC`` = MLPs + QNN + CW, ``AB`` = MPOs + MLPs + CW,
``ABC`` = all of it. Recorded per row: trainable leaves (arrays), StableHLO ops of the lowered
step, the compiled program's kernels (XLA fusions) and the compile seconds.

XLA:CPU emits and compiles every kernel of the program separately, so compile time follows
the kernel count and what each kernel holds. A scanned program holds one decoder layer, but
every trainable array of every layer still enters and leaves the step on its own: stacked for
the scan, its gradient cut out of the stacked one, raveled into the optimizer's vector,
unraveled and added to the array. The leaf column is that cost's driver.

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

from machine import run_meta, write_results

RESULTS = Path(__file__).parent / "results"
CONFIG = Path(__file__).parent / "configs" / "smollm2-135m.json"
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


def worker(name: str) -> dict:
    import jax
    from flax import nnx

    from qtn.adapters import inject
    from qtn.models.config import LlamaConfig
    from qtn.models.llama import LlamaForCausalLM
    from qtn.nn.variables import AdapterParam
    from qtn.train.config import TrainConfig
    from qtn.train.optim import make_optimizer
    from qtn.train.steps import PACKED_KEYS, TrainStep

    cfg = json.loads(CONFIG.read_text())
    model = LlamaForCausalLM(LlamaConfig.from_dict(cfg), rngs=nnx.Rngs(0))
    method, opts, _ = VARIANTS[name]
    inject(model, method, TARGETS, rngs=nnx.Rngs(0), **opts)
    model.scan_layers = True
    leaves = len(jax.tree.leaves(nnx.state(model, AdapterParam)))
    optimizer, _ = make_optimizer(TrainConfig(lr=1e-4), model)
    step = TrainStep(model, optimizer, batch_keys=PACKED_KEYS)
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
    return {"trainable_leaves": leaves, "kernels_by_op": kernels_by_op(hlo),
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


def _run(name: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", name], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        return {"error": f"exit code {done.returncode}: {done.stderr[-1000:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=sorted(VARIANTS), help="run only these rows")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    load = os.getloadavg()
    rows = {}
    for name in args.only or VARIANTS:
        print(f"{name} ...", flush=True)
        rows[name] = _run(name)
        print(f"  {rows[name]}", flush=True)
    out = {"meta": run_meta("python benchmarks/bench_step_compile.py", load), "rows": rows}
    write_results(RESULTS, "step_compile", out, render(out))


def render(out: dict) -> str:
    meta, rows = out["meta"], out["rows"]
    ref = rows.get("lora", {})
    lines = [
        "# Compiling the main job's training step, part by part of QTHA",
        "",
        f"Command: `{meta['command']}` — {meta['machine']} ({meta['cpu_flags']}), "
        f"{meta['date']}; load average {meta['loadavg_start'][0]:.1f} at start, "
        f"{meta['loadavg_end'][0]:.1f} at end.",
        "",
        f"One training step ({ROWS_} packed rows of {SEQ} tokens, layers scanned, AdamW) on "
        "SmolLM2-135M's architecture, adapters on q_proj + v_proj of 30 layers; each row its "
        "own process, no compile cache. *kernels*: XLA fusions in the compiled program; "
        "*+ s vs LoRA*: compile seconds above LoRA's.",
        "",
        "| adapter | adds | trainable arrays | StableHLO ops | kernels | lower s | compile s "
        "| + s vs LoRA |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {name} | error: {r['error'][:200]!r} |||||||")
            continue
        extra = (f"{r['compile_s'] - ref['compile_s']:+.1f}" if "compile_s" in ref
                 and name != "lora" else "-")
        lines.append(
            f"| {name} | {VARIANTS[name][2]} | {r['trainable_leaves']:,} | "
            f"{r['stablehlo_ops']:,} | {r['kernels']:,} | {r['lower_s']:.1f} | "
            f"{r['compile_s']:.1f} | {extra} |")
    lines += ["", "Where the kernels come from (the compiled step's top-level kernels by the JAX "
              "op that made them; *unstack*: an array's gradient cut out of the scanned layers' "
              "stacked gradient; *add*: an update added to an array):", ""]
    for name, r in rows.items():
        if "kernels_by_op" in r:
            top = "; ".join(f"`{op}` {n:,}" for op, n in r["kernels_by_op"].items())
            lines.append(f"- {name}: {top}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
