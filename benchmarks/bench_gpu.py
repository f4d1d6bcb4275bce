"""Training-step throughput on a GPU: qtn (LoRA, the paper's QTHA) vs HF PEFT LoRA (PyTorch),
SmolLM2-135M's architecture.

For a machine with a CUDA GPU, JAX's CUDA plugin and PyTorch (this workplace's device machine).
The model is SmolLM2-135M's architecture (``benchmarks/configs/smollm2-135m.json``, the offline
model's own config.json) with seeded random weights in both frameworks: a step's time does not
depend on the weights' values, and the GPU machine has no hub access. Token ids are random
(seeded), every row full length, so every slot is real work (bench_train's "padded work"
measure). Adapters on q_proj + v_proj of all 30 layers, AdamW, fp32 parameters, logits for every
position (qtn with ``select=False``: the same arithmetic as PEFT). QTHA is the paper sweeps'
configuration (ABC r=8, 2 QNN layers) with the layers scanned; its QNN runs on qtn's JAX
simulator (the C++ kernel is CPU-only).

Precision: fp32 storage, matmuls in TF32 on both sides (JAX's default precision on GPU;
``torch.backends.cuda.matmul.allow_tf32 = True`` for PyTorch). MFU = analytic model FLOPs of
the step (``bench_train.model_flops``) / step time / the in-run TF32 matmul peak (a jitted
8192^3 product) of the same framework. A step's time is a round of timed steps dispatched
back to back and synchronised once at the end (GPU work overlaps the next step's Python), the
median of three rounds, after warm-up steps. Each configuration runs in its own subprocess.

    python benchmarks/bench_gpu.py                   # writes benchmarks/results/gpu.{json,md}
    python benchmarks/bench_gpu.py --results-dir DIR # elsewhere (the device machine's $OUT)
    python benchmarks/bench_gpu.py --tiny            # a 2-layer toy of the same code, on CPU
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_train import METHODS, TARGETS, model_flops
from machine import run_meta, write_results

RESULTS = Path(__file__).parent / "results"
CONFIG = Path(__file__).parent / "configs" / "smollm2-135m.json"
SHAPES = ((8, 128), (16, 512))
TINY_SHAPES = ((2, 16),)
RUNS = ("qtn-lora", "peft-lora", "peft-lora-compiled", "qtn-qtha-scan")
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16}
ROUNDS, WARMUP = 3, 3


def load_config(tiny: bool) -> dict:
    """The benchmark's model config (SmolLM2-135M's; shrunk to :data:`TINY` for ``tiny``)."""
    cfg = json.loads(CONFIG.read_text())
    return {**cfg, **TINY} if tiny else cfg


def random_batch(cfg: dict, batch: int, seq: int, seed: int) -> dict:
    """Seeded random token ids (B, T), every position real and in the loss."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = rng.integers(0, cfg["vocab_size"], size=(batch, seq + 1), dtype=np.int32)
    ones = np.ones((batch, seq), np.int32)
    return {"input_ids": ids[:, :-1], "targets": ids[:, 1:], "attention_mask": ones,
            "loss_mask": ones}


def round_seconds(step, batches: list, sync, rounds: int = ROUNDS) -> list[float]:
    """Seconds per step of ``rounds`` rounds of ``len(batches)`` steps, each round dispatched
    back to back and synchronised once (``sync(last result)``)."""
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        for b in batches:
            last = step(b)
        sync(last)
        out.append((time.perf_counter() - t) / len(batches))
    return out


def worker_qtn(name: str, shapes: list[tuple[int, int]], steps: int, tiny: bool) -> dict:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from qtn.adapters import inject, param_table
    from qtn.models.config import LlamaConfig
    from qtn.models.llama import LlamaForCausalLM
    from qtn.train.config import TrainConfig
    from qtn.train.optim import make_optimizer
    from qtn.train.steps import TrainStep

    cfg = load_config(tiny)
    model = LlamaForCausalLM(LlamaConfig.from_dict(cfg), rngs=nnx.Rngs(0))
    method, opts = METHODS[name]
    inject(model, method, TARGETS, rngs=nnx.Rngs(0), **opts)
    model.scan_layers = name.endswith("-scan")
    params = param_table(model, lora_rank=8).trainable
    optimizer, _ = make_optimizer(TrainConfig(lr=1e-4), model)
    step = TrainStep(model, optimizer, select=False)
    n = 2048 if tiny else 8192
    a = jnp.ones((n, n), jnp.float32)
    mm = jax.jit(lambda x, y: x @ y)
    peak = 2 * n**3 / min(round_seconds(lambda _: mm(a, a), [None] * 5, jax.block_until_ready))
    rows = {}
    for batch, seq in shapes:
        batches = [random_batch(cfg, batch, seq, seed) for seed in range(steps)]
        t = time.perf_counter()
        jax.block_until_ready(step(batches[0])["loss"])  # compile + first step
        first_s = time.perf_counter() - t
        for b in batches[:WARMUP]:
            last = step(b)
        jax.block_until_ready(last["loss"])
        times = round_seconds(step, batches, lambda m: jax.block_until_ready(m["loss"]))
        rows[f"{batch}x{seq}"] = {"first_step_s": first_s, "round_step_s": times,
                                  "loss": float(step(batches[0])["loss"])}
    stats = jax.devices()[0].memory_stats() or {}
    return {"framework": f"jax {jax.__version__}", "device": jax.devices()[0].device_kind,
            "backend": jax.default_backend(), "peak_flops": peak, "trainable_params": int(params),
            "peak_device_mib": stats.get("peak_bytes_in_use", 0) / 2**20, "shapes": rows}


def worker_peft(shapes: list[tuple[int, int]], steps: int, tiny: bool,
                compiled: bool = False) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers import LlamaConfig as HFLlamaConfig

    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    cfg = load_config(tiny)
    model = AutoModelForCausalLM.from_config(HFLlamaConfig(**cfg), dtype=torch.float32).to(dev)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS,
                                             lora_dropout=0.0))
    model.train()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # default mode, static shapes (one graph per batch shape, as qtn compiles): forward + backward
    forward = torch.compile(model, dynamic=False) if compiled else model
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def sync(_):
        if cuda:
            torch.cuda.synchronize()

    def run(b: dict) -> torch.Tensor:
        ids = torch.as_tensor(b["input_ids"], dtype=torch.long, device=dev)
        labels = torch.cat([ids[:, :1], torch.as_tensor(b["targets"], dtype=torch.long,
                                                         device=dev)], dim=1)[:, :-1]
        out = forward(input_ids=ids, attention_mask=torch.as_tensor(b["attention_mask"],
                                                                  device=dev), labels=labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss

    n = 2048 if tiny else 8192
    a = torch.ones((n, n), device=dev)
    peak = 2 * n**3 / min(round_seconds(lambda _: a @ a, [None] * 5, sync))
    rows = {}
    for batch, seq in shapes:
        batches = [random_batch(cfg, batch, seq, seed) for seed in range(steps)]
        t = time.perf_counter()
        sync(run(batches[0]))
        first_s = time.perf_counter() - t
        for b in batches[:WARMUP]:
            last = run(b)
        sync(last)
        times = round_seconds(run, batches, sync)
        rows[f"{batch}x{seq}"] = {"first_step_s": first_s, "round_step_s": times,
                                  "loss": float(run(batches[0]))}
    return {"framework": f"torch {torch.__version__}",
            "device": torch.cuda.get_device_name() if cuda else "cpu",
            "backend": "cuda" if cuda else "cpu", "peak_flops": peak,
            "trainable_params": int(params),
            "peak_device_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0,
            "shapes": rows}


def _run(args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    t = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t
    if done.returncode != 0:
        return {"error": f"exit code {done.returncode}: {done.stderr[-1400:]}"}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "worker_wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="2-layer toy model, any device")
    ap.add_argument("--steps", type=int, default=10, help="steps per timed round (default 10)")
    ap.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated (default {RUNS})")
    ap.add_argument("--timeout", type=float, default=240, help="seconds per worker")
    ap.add_argument("--results-dir", type=Path, default=RESULTS)
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    shapes = list(TINY_SHAPES if args.tiny else SHAPES)
    if args.worker:
        name = args.worker[0]
        out = (worker_peft(shapes, args.steps, args.tiny, compiled=name.endswith("-compiled"))
               if name.startswith("peft") else worker_qtn(name, shapes, args.steps, args.tiny))
        print(json.dumps(out))
        return
    runs = args.runs.split(",")
    unknown = [r for r in runs if r not in RUNS]
    if unknown:
        raise SystemExit(f"bench_gpu: unknown run(s) {unknown}; expected some of {RUNS}")
    load = os.getloadavg()
    extra = (["--tiny"] if args.tiny else []) + ["--steps", str(args.steps)]
    cfg = load_config(args.tiny)
    command = "python benchmarks/bench_gpu.py" + (" --tiny" if args.tiny else "")
    results: dict[str, dict] = {}
    for name in runs:  # the result files are rewritten after every run
        print(f"{name} ...", flush=True)
        results[name] = _run([name, *extra], args.timeout)
        print(f"  {json.dumps(results[name])[:400]}", flush=True)
        out = {"meta": run_meta(command, load), "tiny": args.tiny, "shapes": shapes,
               "flops": {f"{b}x{t}": model_flops(cfg, b, t) for b, t in shapes},
               "runs": results}
        write_results(args.results_dir, "gpu_tiny" if args.tiny else "gpu", out, render(out))


def _median(row: dict) -> float:
    return statistics.median(row["round_step_s"])


def render(out: dict) -> str:
    runs, meta = out["runs"], out["meta"]
    dev = next((r["device"] for r in runs.values() if "device" in r), "unknown")
    lines = [
        "# Training step on a GPU: qtn vs PEFT LoRA",
        "",
        f"Command: `{meta['command']}` — {dev}; host {meta['machine']}, {meta['date']}.",
        "",
        "SmolLM2-135M's architecture with seeded random weights, random token ids (every slot "
        "real), adapters on q_proj + v_proj of 30 layers, AdamW, fp32 parameters, TF32 matmuls "
        "on both sides. *step ms*: median of 3 rounds of back-to-back steps, one sync per "
        "round; *first step s*: compile (qtn; `torch.compile` for peft-lora-compiled) or CUDA "
        "warm-up (eager PyTorch) + one step; MFU against the framework's own in-run TF32 peak "
        "(an 8192^3 product, jitted in JAX).",
        "",
        "| run | framework | peak TFLOP/s | trainable | peak GPU MiB | shape | first step s "
        "| step ms | tokens/s | MFU | vs PEFT |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    peft = runs.get("peft-lora", {})
    for name, r in runs.items():
        if "error" in r:
            lines.append(f"| {name} | error: {r['error'][:200]!r} |||||||||")
            continue
        for shape, row in r["shapes"].items():
            b, t = (int(x) for x in shape.split("x"))
            sec = _median(row)
            mfu = out["flops"][shape] / sec / r["peak_flops"]
            ref = peft.get("shapes", {}).get(shape)
            ratio = f"{_median(ref) / sec:.2f}x" if ref else "-"
            lines.append(
                f"| {name} | {r['framework']} | {r['peak_flops'] / 1e12:.0f} | "
                f"{r['trainable_params']:,} | {r['peak_device_mib']:,.0f} | {shape} | "
                f"{row['first_step_s']:.1f} | {sec * 1e3:.1f} | {b * t / sec:,.0f} | "
                f"{mfu:.0%} | {ratio} |")
    lines += ["", "*vs PEFT*: PEFT's step time / this run's (above 1: faster than PEFT)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
