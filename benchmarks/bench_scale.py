"""A billion-parameter training step on this CPU: Qwen2-1.5B architecture, bf16 frozen base.

The DeepSeek-R1-Distill-Qwen-1.5B architecture (``experiments/scale/models/...``: hidden 1536,
28 layers, 12 heads, 2 KV heads, intermediate 8960, vocab 151,936, rope theta 10000, untied)
with random weights created tensor by tensor in bfloat16 (no hub access here; a real checkpoint
folder loads the same way, streamed), float32 compute, ``remat: layer``, the fused chunked loss
(256 rows), AdamW; adapters on q_proj + v_proj of all 28 layers; batch 4 x 256 random tokens,
loss on every position. Every configuration runs in its own subprocess (separate peak RSS):

- ``qtn-lora``: LoRA r=8; ``qtn-lora-scan``: the same with ``train.scan_layers`` (the decoder
  layers as one ``lax.scan``); ``qtn-qtha-paper``: the paper's QTHA (method ``qtha``, r=8);
  ``qtn-circuit-mpo``: qtn's weight-space hybrid (bond 8, depth 4); both hybrids scanned;
- ``peft-lora``: HF PEFT LoRA r=8 on transformers' Qwen2 (PyTorch) at the same shapes, with
  gradient checkpointing (the counterpart of ``remat: layer``); fp32 base, because torch's
  bf16 matmul on a CPU without AVX512-BF16 / AMX is ~100x slower than fp32 (measured in the
  same run, ``torch_matmul``);
- ``remat``: XLA's temporary-buffer size of the compiled qtn-lora step (compile only, nothing
  run) for ``remat: none | layer | attention_mlp``, for full logits (``loss_chunk: 0``) and
  with the layers scanned;
- ``qtn-lora-7b`` (``--7b``): the Qwen2-7B architecture at batch 1 x 256, when the machine has
  the memory ``qtn plan-memory`` says it needs.

Next to each measured peak RSS: the ``qtn plan-memory`` estimate for that configuration (shapes
only). The CPU's vector extensions are recorded.

    python benchmarks/bench_scale.py                 # writes benchmarks/results/scale.{json,md}
    python benchmarks/bench_scale.py --7b            # also the 7B stretch row
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
CONFIGS = {"1.5b": REPO / "experiments/scale/lora_1.5b.yaml",
           "7b": REPO / "experiments/scale/lora_7b.yaml"}
TARGETS = ["q_proj", "v_proj"]
# the paper's QTHA at the sweeps' r=8 options (bottleneck 64 in 3 cores; 2 QNN layers) and qtn's
# weight-space hybrid (a circuit as the middle MPO core)
METHODS: dict[str, tuple[str, dict]] = {
    "qtn-lora": ("lora", {"r": 8, "alpha": 16}),
    "qtn-lora-scan": ("lora", {"r": 8, "alpha": 16}),
    "qtn-qtha-paper": ("qtha", {"r": 8, "alpha": 16, "bottleneck": 64, "mpo_cores": 3,
                                "mpo_ranks": [1, 8, 8, 1], "qnn_layers": 2}),
    "qtn-circuit-mpo": ("circuit_mpo", {"bond": 8, "depth": 4}),
}
QTN_ROWS = ("qtn-lora", "qtn-lora-scan", "qtn-qtha-paper", "qtn-circuit-mpo")  # table order
TRAIN_OVERRIDES: dict[str, dict] = {
    # the decoder layers as one lax.scan: each layer's bf16 slice (stacked as uint16 bits) is
    # widened inside the scan body, so no fp32 copy of every layer lives through the step
    "qtn-lora-scan": {"scan_layers": True},
    # the hybrids run scanned only: looped, the bf16 base's widened copies alone exceed the
    # 12 GiB target (the qtn-lora row)
    "qtn-qtha-paper": {"scan_layers": True},
    "qtn-circuit-mpo": {"scan_layers": True},
}


def _row_config(name: str, size: str):
    """The config of benchmark row ``name`` (a :data:`METHODS` key, ``-7b`` suffix allowed)."""
    key = name.removesuffix("-7b")
    method, opts = METHODS[key]
    return _config(size, method, opts, **TRAIN_OVERRIDES.get(key, {}))


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def cpu_flags() -> dict:
    """Model name and the vector extensions that matter for matmuls, from /proc/cpuinfo."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags, model = set(), platform.processor()
    for line in text.splitlines():
        if line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
        if line.startswith("model name") and ":" in line:
            model = line.split(":", 1)[1].strip()
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16"]
    return {"model": model, "cores": os.cpu_count(), **{f: f in flags for f in wanted}}


def _config(size: str, method: str = "lora", opts: dict | None = None, *,
            param_dtype: str | None = None, dtype: str | None = None, **train):
    """The committed scale config of ``size`` with this method / options / train overrides."""
    from qtn.experiment.config import RunConfig, load_config

    d = load_config(CONFIGS[size]).to_dict()
    d["adapter"] = {"method": method, "target_modules": TARGETS,
                    **(opts if opts is not None else METHODS["qtn-lora"][1])}
    d["train"] = {**d["train"], **train}
    if param_dtype is not None:
        d["model"] = {**d["model"], "param_dtype": param_dtype}
    if dtype is not None:
        d["model"] = {**d["model"], "dtype": dtype}
    return RunConfig.from_dict(d)


def _plan(config, platform: str | None = None) -> dict:
    """``qtn plan-memory`` of ``config`` for ``platform`` (default: this machine's backend)."""
    from qtn.experiment.memory import plan_run_memory

    plan = plan_run_memory(config, platform=platform)
    return {**plan.to_dict(), "per_process_gib": plan.per_process / 2**30}


def _batch(vocab: int, batch: int, seq: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab, (batch, seq)).astype(np.int32)
    ones = np.ones_like(ids)
    return {"input_ids": ids, "attention_mask": ones, "targets": np.roll(ids, -1, 1),
            "loss_mask": ones}


def _build(config, seed: int = 0):
    """Random bf16 base (tensor by tensor), adapter injected; (model, optimizer, build s)."""
    import jax.numpy as jnp
    from flax import nnx

    from qtn.adapters.costs import model_config_dict
    from qtn.adapters.inject import inject_spec
    from qtn.models import LlamaConfig
    from qtn.models.random_init import random_llama
    from qtn.train.optim import make_optimizer

    t0 = time.perf_counter()
    cfg = LlamaConfig.from_dict(model_config_dict(config.model.path))
    model = random_llama(
        cfg, dtype=jnp.dtype(config.model.dtype), param_dtype=jnp.dtype(config.model.storage_dtype),
        remat=config.train.remat, seed=seed,
    )
    inject_spec(model, config.adapter_spec, rngs=nnx.Rngs(seed))
    model.scan_layers = config.train.scan_layers
    optimizer, _ = make_optimizer(config.train, model)
    return model, optimizer, time.perf_counter() - t0


def worker_qtn(name: str, size: str, steps: int) -> dict:
    import jax

    from qtn.adapters import param_table
    from qtn.train.steps import TrainStep

    config = _row_config(name, size)
    method = config.adapter_spec.method
    plan = _plan(config)
    rss0 = _peak_rss_gib()
    model, optimizer, build_s = _build(config)
    rss_built = _peak_rss_gib()
    params = param_table(model, lora_rank=8)
    dc = config.data_config()
    batch = _batch(model.config.vocab_size, dc.batch_size, dc.max_len)
    step = TrainStep(model, optimizer, select=False, loss_chunk=config.train.loss_chunk)
    t0 = time.perf_counter()
    first = float(jax.block_until_ready(step(batch)["loss"]))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        jax.block_until_ready(step(batch)["loss"])
        times.append(time.perf_counter() - t)
    exe = next(iter(step._executables.values()))
    mem = exe.memory_analysis()
    return {
        "size": size,
        "method": method,
        "trainable_params": params.trainable,
        "base_params": params.base_params,
        "scan_layers": config.train.scan_layers,
        "build_s": build_s,
        "compile_and_first_step_s": compile_s,
        "step_s": times,
        "step_s_min": min(times),
        "tokens_per_s": dc.batch_size * dc.max_len / min(times),
        "first_loss": first,
        "peak_rss_gib": _peak_rss_gib(),
        "rss_before_model_gib": rss0,
        "rss_after_build_gib": rss_built,
        "xla_temp_gib": mem.temp_size_in_bytes / 2**30,
        "plan": plan,
    }


REMAT_LAYERS = 4  # the remat comparison compiles the 1.5B architecture cut to this many layers


def worker_remat(size: str) -> dict:
    """Compile (never run) the qtn-lora step of the architecture cut to :data:`REMAT_LAYERS`
    layers, under each remat mode and with full logits, for bf16 and fp32 storage (fp32
    compute): XLA's temporary-buffer bytes of each, next to the plan's terms for it."""
    import dataclasses

    import jax.numpy as jnp
    from flax import nnx

    from qtn.adapters.costs import model_config_dict
    from qtn.adapters.inject import inject_spec
    from qtn.experiment.memory import adapter_modules
    from qtn.models import LlamaConfig
    from qtn.models.random_init import random_llama
    from qtn.train.memory import estimate_memory
    from qtn.train.optim import make_optimizer
    from qtn.train.steps import TrainStep

    out = {}
    variants = {
        "remat none": {"remat": "none"},
        "remat layer": {"remat": "layer"},
        "remat attention_mlp": {"remat": "attention_mlp"},
        "remat layer, full logits": {"remat": "layer", "loss_chunk": 0},
        "remat layer, layers scanned": {"remat": "layer", "scan_layers": True},
    }
    base = _config(size)
    cfg_dict = {**model_config_dict(base.model.path), "num_hidden_layers": REMAT_LAYERS}
    cfg = LlamaConfig.from_dict(cfg_dict)
    dc = base.data_config()
    batch = _batch(cfg.vocab_size, dc.batch_size, dc.max_len)
    for storage in ("bfloat16", "float32"):
        model = random_llama(cfg, param_dtype=jnp.dtype(storage))
        inject_spec(model, base.adapter_spec, rngs=nnx.Rngs(0))
        optimizer, _ = make_optimizer(base.train, model)
        for label, train in variants.items():
            tc = dataclasses.replace(base.train, **train)
            model.remat = tc.remat
            model.scan_layers = tc.scan_layers
            step = TrainStep(model, optimizer, select=False, loss_chunk=tc.loss_chunk)
            arrays = {k: jnp.asarray(v) for k, v in step.inputs.host(batch).items()}
            t0 = time.perf_counter()
            exe = step._jitted.lower(step.frozen, step.mutable, arrays).compile()
            plan = estimate_memory(
                cfg, batch_size=dc.batch_size, seq_len=dc.max_len, dtype="float32",
                param_dtype=storage, adapters=adapter_modules(cfg_dict, base)[: 2 * REMAT_LAYERS],
                remat=tc.remat, loss_chunk=tc.loss_chunk, scan=tc.scan_layers,
            ).terms
            out[f"{storage} storage, {label}"] = {
                "xla_temp_gib": exe.memory_analysis().temp_size_in_bytes / 2**30,
                "compile_s": time.perf_counter() - t0,
                "plan_step_terms_gib": (plan["activations"] + plan["widened_weights"]
                                        + plan["logits"]) / 2**30,
            }
        del model, optimizer
    return out


HEAD_SHAPES = {  # tokens, hidden, vocab, tied (vocab-major head)
    "SmolLM2-135M, 8 x 128": (1024, 576, 49152, True),
    "Qwen2-1.5B, 4 x 256": (1024, 1536, 151936, False),
}


def worker_loss_head(reps: int) -> dict:
    """The output head + cross-entropy alone (forward and the gradient w.r.t. the hidden
    states, the head frozen, as in adapter training): full fp32 logits vs the fused chunked
    loss (256 rows), interleaved, best of ``reps``; XLA's temporary bytes of each."""
    import jax
    import jax.numpy as jnp

    from qtn.train.cross_entropy import fused_nll, token_nll

    out = {}
    for label, (n, d, v, tied) in HEAD_SHAPES.items():
        k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
        h = jax.random.normal(k1, (n, d), jnp.float32)
        w = (0.02 * jax.random.normal(k2, (v, d) if tied else (d, v))).astype(jnp.bfloat16)
        t = jax.random.randint(k3, (n,), 0, v)

        def full(h, w, t=t, tied=tied):
            logits = h @ (w.T if tied else w).astype(jnp.float32)
            return jnp.mean(token_nll(logits, t))

        def chunked(h, w, t=t, tied=tied):
            return jnp.mean(fused_nll(h, w, t, vocab_major=tied, chunk=256))

        fns = {name: jax.jit(jax.value_and_grad(f)) for name, f in
               (("full logits", full), ("chunked 256", chunked))}
        best = {name: float("inf") for name in fns}
        mem = {}
        for name, f in fns.items():
            jax.block_until_ready(f(h, w))
            mem[name] = f.lower(h, w).compile().memory_analysis().temp_size_in_bytes / 2**20
        for _ in range(reps):
            for name, f in fns.items():
                t0 = time.perf_counter()
                jax.block_until_ready(f(h, w))
                best[name] = min(best[name], time.perf_counter() - t0)
        out[label] = {name: {"s": best[name], "temp_mib": mem[name]} for name in fns}
    return out


def worker_peft(size: str, steps: int) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.set_num_threads(os.cpu_count() or 2)
    torch.manual_seed(0)
    config = _config(size)
    rss0 = _peak_rss_gib()
    t0 = time.perf_counter()
    hf_cfg = AutoConfig.from_pretrained(str(REPO / config.model.path))
    model = AutoModelForCausalLM.from_config(hf_cfg, dtype=torch.float32)
    model.gradient_checkpointing_enable()
    model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS))
    model.train()
    build_s = time.perf_counter() - t0
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    dc = config.data_config()
    b = _batch(hf_cfg.vocab_size, dc.batch_size, dc.max_len)
    ids = torch.as_tensor(b["input_ids"], dtype=torch.long)

    def run() -> float:
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(out.loss)

    t0 = time.perf_counter()
    run()
    warm = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return {
        "base_dtype": "float32",
        "trainable_params": trainable,
        "build_s": build_s,
        "warmup_step_s": warm,
        "step_s": times,
        "step_s_min": min(times),
        "tokens_per_s": dc.batch_size * dc.max_len / min(times),
        "peak_rss_gib": _peak_rss_gib(),
        "rss_before_model_gib": rss0,
    }


def worker_torch_matmul() -> dict:
    """torch CPU matmul speed at a 1.5B projection shape (256 x 1536 x 1536), fp32 and bf16."""
    import torch

    torch.set_num_threads(os.cpu_count() or 2)
    out = {}
    for name, dt in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        a, b = torch.ones(256, 1536, dtype=dt), torch.ones(1536, 1536, dtype=dt)
        a @ b
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 3.0 or n < 1:
            a @ b
            n += 1
        out[name] = 2 * 256 * 1536 * 1536 * n / (time.perf_counter() - t0) / 1e9
    return {"gflop_s": out}


def _run(args: list[str], timeout: float | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False,
                              cwd=str(REPO), timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if done.returncode != 0:
        return {"error": done.stderr[-1500:], "returncode": done.returncode}
    res = json.loads(done.stdout.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t0
    print(args, json.dumps(res)[:300], flush=True)
    return res


def mem_available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2, help="timed steps after the first")
    ap.add_argument("--7b", dest="seven", action="store_true", help="add the 7B stretch row")
    ap.add_argument("--only", nargs="+", default=None, help="run only these rows")
    ap.add_argument("--render", action="store_true",
                    help="run nothing: refresh the plans and rewrite scale.md from scale.json")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "peft":
            res = worker_peft(rest[0], int(rest[1]))
        elif kind == "remat":
            res = worker_remat(rest[0])
        elif kind == "torch_matmul":
            res = worker_torch_matmul()
        elif kind == "loss_head":
            res = worker_loss_head(int(rest[0]))
        else:
            res = worker_qtn(kind, rest[0], int(rest[1]))
        print(json.dumps(res))
        return
    os.chdir(REPO)
    if args.render:
        out = json.loads((RESULTS / "scale.json").read_text())
        meta = out["meta"]
        _write(out, args, tuple(meta["loadavg_start"]))
        out["meta"].update({k: meta[k] for k in ("command", "date", "loadavg_end")})
        (RESULTS / "scale.json").write_text(json.dumps(out, indent=2))
        (RESULTS / "scale.md").write_text(render(out))
        print(render(out))
        return
    previous = {}
    if (RESULTS / "scale.json").exists() and args.only:
        previous = json.loads((RESULTS / "scale.json").read_text())
        args.previous_command = previous.get("meta", {}).get("command")
    out: dict = {**previous, "cpu": cpu_flags()}
    out.setdefault("rows", {})
    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = {
        "torch_matmul": ["torch_matmul"],
        "loss_head": ["loss_head", "5"],
        "qtn-lora": ["qtn-lora", "1.5b", str(args.steps)],
        "qtn-lora-scan": ["qtn-lora-scan", "1.5b", str(args.steps)],
        "peft-lora": ["peft", "1.5b", str(args.steps)],
        "remat": ["remat", "1.5b"],
        "qtn-qtha-paper": ["qtn-qtha-paper", "1.5b", str(args.steps)],
        "qtn-circuit-mpo": ["qtn-circuit-mpo", "1.5b", str(args.steps)],
    }
    if args.seven:
        rows["qtn-lora-7b"] = ["qtn-lora-7b", "7b", "1"]
    for name, argv in rows.items():
        if args.only and name not in args.only:
            continue
        if name == "qtn-lora-7b":
            need = _plan(_config("7b"))["per_process_gib"]
            avail = mem_available_gib()
            if avail < need * 1.05:
                out["rows"][name] = {"skipped": f"needs ~{need:.1f} GiB (plan-memory), "
                                                f"{avail:.1f} GiB available now"}
                continue
        load = os.getloadavg()[0]
        out["rows"][name] = _run(argv)
        if isinstance(out["rows"][name], dict):  # which invocation, at what load (see render)
            out["rows"][name]["run"] = {"started": started, "load": load}
        _write(out, args, load0)  # partial results survive an interrupted run
    _write(out, args, load0)
    print(render(out))


def _write(out: dict, args: argparse.Namespace, load0: tuple) -> None:
    for name, row in out["rows"].items():  # plans from this checkout's estimator
        if isinstance(row, dict) and "plan" in row and name.removesuffix("-7b") in METHODS:
            row["plan"] = _plan(_row_config(name, row["size"]))
    out["plans"] = {
        "1.5b lora (batch 4x256)": _plan(_config("1.5b")),
        "7b lora (batch 1x256, bf16 compute)": _plan(_config("7b")),
        "7b lora, bf16 compute, layers scanned": _plan(_config("7b", scan_layers=True)),
        "7b lora, bf16 compute, on a GPU (bf16 matmuls native)": _plan(_config("7b"), "gpu"),
        "7b lora, fp32 compute over the bf16 base": _plan(_config("7b", dtype="float32")),
        "7b lora, all fp32, no remat, full logits": _plan(
            _config("7b", param_dtype="float32", dtype="float32", remat="none", loss_chunk=0)),
    }
    command = "python benchmarks/bench_scale.py"
    command += f" --steps {args.steps}" if args.steps != 2 else ""
    command += " --7b" if args.seven else ""
    command += f" --only {' '.join(args.only)}" if args.only else ""
    if getattr(args, "previous_command", None):  # rows kept from earlier runs say which
        command = f"{args.previous_command}, then {command}"
    out["meta"] = {
        "command": command,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loadavg_start": load0,
        "loadavg_end": os.getloadavg(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(out, indent=2))
    (RESULTS / "scale.md").write_text(render(out))


def _run_label(row: dict) -> str:
    """The invocation a row came from and the load average when it started."""
    run = row.get("run")
    if not run:
        return "an earlier run (not recorded)"
    return f"{run['started']} ({run['load']:.1f})"


def _peft_ratio_lines(rows: dict) -> list[str]:
    """Each qtn row's tokens/s and peak RSS relative to PEFT's, for the rows measured in the
    same invocation as PEFT (rows record it since 2026-11-26)."""
    p = rows.get("peft-lora", {})
    if "step_s_min" not in p or "run" not in p:
        return []
    out = []
    for name in QTN_ROWS:
        q = rows.get(name, {})
        if "step_s_min" not in q or q.get("run", {}).get("started") != p["run"]["started"]:
            continue
        out.append(f"- {name}: {p['step_s_min'] / q['step_s_min']:.2f}x PEFT's tokens/s, "
                   f"{q['peak_rss_gib'] / p['peak_rss_gib']:.2f}x its peak RSS")
    return ["", "Against PEFT in the same run:", "", *out] if out else []


def _pct(est: float, meas: float) -> str:
    return f"{100 * (est - meas) / meas:+.0f} %"


def render(out: dict) -> str:
    c, m, rows = out["cpu"], out["meta"], out["rows"]
    ext = ", ".join(f"{k} {'yes' if c.get(k) else 'no'}"
                    for k in ("avx2", "avx512f", "avx512_bf16", "amx_tile"))
    lines = [
        "# A billion-parameter training step on this CPU (Qwen2-1.5B architecture)",
        "",
        f"Command: `{m['command']}` — {m['machine']} ({c['model']}; {ext}), {m['date']}; load "
        f"average {m['loadavg_start'][0]:.1f} at start, {m['loadavg_end'][0]:.1f} at end (the "
        "machine is shared: read times as upper bounds).",
        "",
        "DeepSeek-R1-Distill-Qwen-1.5B architecture, random weights created tensor by tensor in "
        "bfloat16, fp32 compute, `remat: layer`, fused chunked loss (256 rows), AdamW, adapters "
        "on q_proj + v_proj of all 28 layers, batch 4 x 256 (loss on every token). Each row in "
        "its own process; the estimate is `qtn plan-memory` for the same configuration (shapes "
        "only, per process).",
        "",
        "| config | base | trainable params | s/step | tokens/s | peak RSS GiB | plan-memory "
        "GiB | estimate vs measured | run (load at row start) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in (*QTN_ROWS, "peft-lora"):
        r = rows.get(name)
        if r is None:
            lines.append(f"| {name} | not run in this result "
                         f"(`python benchmarks/bench_scale.py --only {name}`) ||||||||")
            continue
        if "error" in r:
            lines.append(f"| {name} | error: {r['error'][-150:]!r} ||||||||")
            continue
        if name == "peft-lora":
            lines.append(
                f"| peft-lora (torch, gradient checkpointing) | fp32 | {r['trainable_params']:,} "
                f"| {r['step_s_min']:.1f} | {r['tokens_per_s']:.1f} | {r['peak_rss_gib']:.2f} "
                f"| - | - | {_run_label(r)} |"
            )
            continue
        est = r["plan"]["per_process_gib"]
        label = f"{name} ({r['method']}{', layers scanned' if r.get('scan_layers') else ''})"
        lines.append(
            f"| {label} | bf16 | {r['trainable_params']:,} | {r['step_s_min']:.1f} "
            f"| {r['tokens_per_s']:.1f} | {r['peak_rss_gib']:.2f} | {est:.2f} "
            f"| {_pct(est, r['peak_rss_gib'])} | {_run_label(r)} |"
        )
    lines += ["", "Step times are comparable only within one run: the machine is shared and "
                  "its load changes between runs (a load of 4 on 2 cores triples a step)."]
    lines += _peft_ratio_lines(rows)
    tm = rows.get("torch_matmul", {}).get("gflop_s")
    if tm:
        lines += ["", f"PEFT runs an fp32 base: torch's CPU matmul at 256 x 1536 x 1536 ran "
                      f"{tm['float32']:.0f} GFLOP/s in fp32 and {tm['bfloat16']:.1f} GFLOP/s in "
                      "bf16 in this run (no AVX512-BF16 / AMX here), so a bf16 PEFT step would "
                      "take hours."]
    built = [(n, rows[n]) for n in QTN_ROWS if "build_s" in rows.get(n, {})]
    if built:
        lines += ["", "Each qtn row: model built (peak RSS while creating the bf16 base), "
                      "compile + first step, XLA's temporaries of the step, and what the plan "
                      "accounts of them to activations + logits and to fp32 copies of the bf16 "
                      "weights (see the remat table):", ""]
    for name, q in built:
        t = q["plan"]["terms"]
        lines.append(f"- {name}: built in {q['build_s']:.0f} s ({q['rss_after_build_gib']:.2f} "
                     f"GiB; {q['rss_before_model_gib']:.2f} GiB before), compile + first step "
                     f"{q['compile_and_first_step_s']:.0f} s, temporaries "
                     f"{q['xla_temp_gib']:.2f} GiB (plan: "
                     f"{(t['activations'] + t['logits']) / 2**30:.2f} + "
                     f"{t['widened_weights'] / 2**30:.2f} GiB)")
    rm = rows.get("remat")
    if rm and "error" not in rm:
        lines += ["", "## Rematerialisation and the chunked loss: XLA's temporary buffers of the "
                      f"compiled qtn-lora step (the architecture cut to {REMAT_LAYERS} layers, "
                      "batch 4 x 256, fp32 compute; compiled, not run)", "",
                  "| variant | XLA temp GiB | plan: activations + widened weights + logits GiB |",
                  "|---|---:|---:|"]
        for label, r in rm.items():
            if isinstance(r, dict) and "xla_temp_gib" in r:
                lines.append(f"| {label} | {r['xla_temp_gib']:.2f} | "
                             f"{r['plan_step_terms_gib']:.2f} |")
    lh = rows.get("loss_head")
    if lh and "error" not in lh:
        lines += ["", "## Output head + cross-entropy alone: full logits vs fused chunks "
                      "(forward + gradient w.r.t. the hidden states, bf16 head, best of 5, "
                      "interleaved)", "",
                  "| shape | full logits s | chunked 256 s | chunked / full | full temp MiB "
                  "| chunked temp MiB |", "|---|---:|---:|---:|---:|---:|"]
        for label, r in lh.items():
            if not isinstance(r, dict) or "full logits" not in r:
                continue
            f, c = r["full logits"], r["chunked 256"]
            lines.append(f"| {label} | {f['s']:.3f} | {c['s']:.3f} | {c['s'] / f['s']:.2f} "
                         f"| {f['temp_mib']:.0f} | {c['temp_mib']:.0f} |")
    lines += ["", "## Memory plans from shapes (`qtn plan-memory`)", ""]
    for label, plan in out.get("plans", {}).items():
        t = plan["terms"]
        parts = ", ".join(f"{k} {v / 2**30:.2f}" for k, v in t.items())
        lines.append(f"- **{label}**: {plan['per_process'] / 2**30:.2f} GiB per process "
                     f"({parts} GiB)")
    seven = rows.get("qtn-lora-7b")
    if not seven:
        lines += ["", "## Stretch: Qwen2-7B architecture, batch 1 x 256, bf16 base", "",
                  "Not run in this result (`--7b` runs it when the machine has the memory the "
                  "plan asks for); its plans from shapes are above."]
    if seven:
        lines += ["", "## Stretch: Qwen2-7B architecture, batch 1 x 256, bf16 base", ""]
        if "skipped" in seven:
            lines.append(f"Not run: {seven['skipped']}.")
        elif "error" in seven:
            last = seven["error"].strip().splitlines()[-1]
            lines += [f"Failed: `{last[-300:]}`", "",
                      "On this CPU the plans above explain it: XLA:CPU runs bf16 matmuls in "
                      "float32, so the looped step keeps float32 copies of the weights "
                      "(`widened_weights`), and the scanned step a stacked copy of the decoder "
                      "weights per call; neither fits 24 GiB. Decoder layers stored stacked "
                      "(no per-call copy) would leave the base plus one layer's widened copy."]
        else:
            est = seven["plan"]["per_process_gib"]
            lines.append(
                f"Ran: {seven['step_s_min']:.0f} s/step, peak RSS {seven['peak_rss_gib']:.2f} GiB "
                f"(plan-memory {est:.2f} GiB, {_pct(est, seven['peak_rss_gib'])}), "
                f"{seven['trainable_params']:,} trainable params, compile + first step "
                f"{seven['compile_and_first_step_s']:.0f} s."
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
