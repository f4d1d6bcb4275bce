"""qtn (JAX/NNX) vs transformers (PyTorch) on the offline SmolLM2-135M-Instruct, fp32, CPU.

Measures forward throughput (batch 8 x 128 tokens), greedy generation throughput (KV cache),
JAX compile time (separately) and the peak RSS of each framework, each in its own subprocess.

Exact-match evaluation (qtn only, each path in its own subprocess): greedy generation of the
arithmetic task's test split (200 prompts, up to 48 new tokens, stop at eos) with the base model,
(a) as before issue 13 — batches of 8 prompts in input order, each re-padded to a multiple of
16 tokens by ``qtn.models.generate`` (one compile per distinct length) — and (b) as now —
``FinalEvaluation``'s prompt batches (prompt-length buckets, at most
``eval.generate_batch_size`` 64 rows, balanced per bucket) and ``BatchGenerator`` (one program
per bucket, compiled up front).
Examples/s end to end (compile included) and warm (a second pass); both paths must produce the
same texts.

    python benchmarks/bench_model.py            # writes benchmarks/results/model.{json,md}
    python benchmarks/bench_model.py --quick    # fewer repetitions
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

from machine import cpu_flags, matmul_peak_flops

RESULTS = Path(__file__).parent / "results"
BATCH, SEQ = 8, 128
GEN_BATCH, GEN_PROMPT, GEN_NEW = 1, 16, 64


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def worker_qtn(folder: str, reps: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from qtn.hf import from_pretrained
    from qtn.models import generate

    t0 = time.perf_counter()
    model, _ = from_pretrained(folder, with_tokenizer=False)
    load_s = time.perf_counter() - t0
    graphdef, state = nnx.split(model)

    @jax.jit
    def forward(state, ids):
        return nnx.merge(graphdef, state)(ids)

    ids = jnp.asarray(np.random.default_rng(0).integers(0, 49152, (BATCH, SEQ)), jnp.int32)
    t0 = time.perf_counter()
    compiled = forward.lower(state, ids).compile()
    fwd_compile = time.perf_counter() - t0
    compiled(state, ids).block_until_ready()
    fwd = _best(lambda: compiled(state, ids).block_until_ready(), reps)

    prompt = [list(range(100, 100 + GEN_PROMPT))] * GEN_BATCH
    t0 = time.perf_counter()
    generate(model, prompt, max_new_tokens=GEN_NEW, stop_token_ids=[])  # compile + 1 run
    gen_first = time.perf_counter() - t0
    gen = _best(lambda: generate(model, prompt, max_new_tokens=GEN_NEW, stop_token_ids=[]),
                max(2, reps // 2))
    return {
        "framework": f"qtn (jax {jax.__version__})",
        "load_s": load_s,
        "forward_compile_s": fwd_compile,
        "forward_s": fwd,
        "generate_compile_s": max(gen_first - gen, 0.0),
        "generate_s": gen,
        "peak_rss_mib": _peak_rss_mib(),
    }


def worker_torch(folder: str, reps: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(os.cpu_count() or 1)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    load_s = time.perf_counter() - t0
    ids = torch.randint(0, 49152, (BATCH, SEQ))
    with torch.inference_mode():
        model(ids)
        fwd = _best(lambda: model(ids), reps)
        prompt = torch.arange(100, 100 + GEN_PROMPT)[None].repeat(GEN_BATCH, 1)

        def gen():
            model.generate(prompt, max_new_tokens=GEN_NEW, min_new_tokens=GEN_NEW,
                           do_sample=False, pad_token_id=0)

        gen()
        gen_s = _best(gen, max(2, reps // 2))
    return {
        "framework": f"transformers {__import__('transformers').__version__} "
                     f"(torch {torch.__version__})",
        "load_s": load_s,
        "forward_compile_s": None,
        "forward_s": fwd,
        "generate_compile_s": None,
        "generate_s": gen_s,
        "peak_rss_mib": _peak_rss_mib(),
    }


EVAL_DATA = {"task": "arithmetic", "max_len": 128, "batch_size": 8, "seed": 0}
EVAL_NEW_TOKENS = 48


def worker_eval(folder: str, path: str) -> dict:
    """Greedy exact-match generation over the arithmetic test split, old or new path."""
    import jax

    from qtn.data import build_data
    from qtn.data.encoding import encode_prompts
    from qtn.hf import from_pretrained
    from qtn.models import BatchGenerator, generate
    from qtn.train.compile import CompileJob, compile_all

    model, tok = from_pretrained(folder)
    data = build_data(EVAL_DATA, tok)
    examples = data.task.test
    stops = sorted(set(model.config.eos_token_id) | {tok.eos_token_id})
    pad = tok.pad_token_id if tok.pad_token_id is not None else stops[0]
    compile_s, bound = 0.0, {}
    if path == "old":
        prompts = [p.tolist() for p in encode_prompts(tok, examples, max_len=128)]

        def run() -> list[list[int]]:
            out = []
            for i in range(0, len(prompts), 8):
                chunk = prompts[i : i + 8]
                chunk += [chunk[0]] * (8 - len(chunk))  # filler rows, as the old batches had
                res = generate(model, chunk, max_new_tokens=EVAL_NEW_TOKENS,
                               stop_token_ids=stops, pad_token_id=pad)
                out += res.as_lists()[: len(prompts[i : i + 8])]
            return out
    else:
        batches, _ = data.prompt_batches("test", batch_size=64, balance=True)
        gen = BatchGenerator(model, max_new_tokens=EVAL_NEW_TOKENS, stop_token_ids=stops,
                             pad_token_id=pad)
        shapes = sorted({b["input_ids"].shape for b in batches})
        t0 = time.perf_counter()
        compile_all([CompileJob(str(s), lambda s=s: gen.lower(s),
                                lambda c, s=s: gen.install(s, c)) for s in shapes])
        compile_s = time.perf_counter() - t0
        bound = _eval_flop_bound(model.config, batches, len(examples))

        def run() -> list[list[int]]:
            out: list = [None] * len(examples)
            for b in batches:
                res = gen(b["input_ids"], b["attention_mask"]).as_lists()
                for row, i in enumerate(b["example_index"]):
                    if i >= 0:
                        out[int(i)] = res[row]
            return out

    t0 = time.perf_counter()
    first = run()
    first_s = time.perf_counter() - t0 + compile_s
    t0 = time.perf_counter()
    second = run()
    warm_s = time.perf_counter() - t0
    assert first == second
    return {
        "path": path,
        "examples": len(examples),
        "generated_tokens": int(sum(len(t) for t in first)),
        "end_to_end_s": first_s,
        "compile_s": compile_s,
        "warm_s": warm_s,
        "texts_sha": __import__("hashlib").sha256(repr(first).encode()).hexdigest()[:16],
        **({"flop_bound": bound} if bound else {}),
        "jax": jax.__version__,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _eval_flop_bound(cfg, batches: list[dict], n_prompts: int) -> dict:
    """The least matmul work greedy generation of the test split needs, and this process's
    fp32 matmul peak (jitted 2048^3): every real prompt token through the decoder layers' seven
    projections, one lm_head row per prompt, every generated token through both (attention's
    products and all padding left out, so the bound is generous)."""
    prompt_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    d, f, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    kv = cfg.num_key_value_heads * cfg.head_dim
    q = cfg.num_attention_heads * cfg.head_dim
    layers = 2 * L * (2 * d * q + 2 * d * kv + 3 * d * f)
    head = 2 * d * cfg.vocab_size
    return {"prompt_tokens": prompt_tokens, "prompt_flops": prompt_tokens * layers
            + n_prompts * head, "flops_per_new_token": layers + head,
            "peak_flops": matmul_peak_flops()}


def run_eval_worker(path: str, folder: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", "eval", "--folder", folder, "--path", path]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_worker(name: str, folder: str, reps: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--folder", folder, "--reps", str(reps)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _best_run(runs: list[dict]) -> dict:
    """Per metric, the best over the rounds (min time; max for nothing; RSS of the max)."""
    best = dict(runs[0])
    for key in ("load_s", "forward_s", "generate_s", "forward_compile_s", "generate_compile_s"):
        values = [r[key] for r in runs if r[key] is not None]
        best[key] = min(values) if values else None
    best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    best["rounds"] = len(runs)
    return best


def _fmt_load(load: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


def to_markdown(res: dict) -> str:
    q, t = res["qtn"], res["torch"]
    tok_fwd, tok_gen = BATCH * SEQ, GEN_BATCH * GEN_NEW

    def row(label, fn, fmt):
        return f"| {label} | {fmt.format(fn(q))} | {fmt.format(fn(t))} |"

    lines = [
        "# SmolLM2-135M-Instruct on CPU, fp32: qtn (JAX/NNX) vs transformers (PyTorch)",
        "",
        f"Command: `{res['command']}` — {res['machine']} ({res.get('cpu_flags', '?')}), "
        f"{res['date']}.",
        f"Forward: batch {BATCH} x {SEQ} tokens. Generation: batch {GEN_BATCH}, "
        f"{GEN_PROMPT}-token prompt, {GEN_NEW} new tokens, greedy, KV cache.",
        "Each framework runs in its own subprocess (peak RSS is per process); frameworks "
        "alternate for several rounds; times are the best of all repetitions.",
        "",
        f"| | {q['framework']} | {t['framework']} |",
        "|---|---:|---:|",
        row("forward tokens/s", lambda r: tok_fwd / r["forward_s"], "{:,.0f}"),
        row("generation tokens/s", lambda r: tok_gen / r["generate_s"], "{:,.1f}"),
        row("JAX compile: forward (s)",
            lambda r: r["forward_compile_s"] if r["forward_compile_s"] is not None else "-",
            "{}"),
        row("JAX compile: generate (s)",
            lambda r: r["generate_compile_s"] if r["generate_compile_s"] is not None else "-",
            "{}"),
        row("load (s)", lambda r: r["load_s"], "{:.1f}"),
        row("peak RSS (MiB)", lambda r: r["peak_rss_mib"], "{:,.0f}"),
        "",
        f"qtn / torch: forward **{res['ratio_forward']:.2f}x**, "
        f"generation **{res['ratio_generate']:.2f}x**.",
        "",
        f"Load average at the start / end: {_fmt_load(res['load_avg_at_start'])} / "
        f"{_fmt_load(res['load_avg_at_end'])} (the CPU may be shared: compare within one run).",
        "",
        *_eval_lines(res.get("eval")),
    ]
    return "\n".join(lines)


def _eval_lines(ev: dict | None) -> list[str]:
    if not ev:
        return []
    old, new = ev["old"], ev["new"]
    n = old["examples"]

    def row(label: str, r: dict) -> str:
        return (
            f"| {label} | {n / r['end_to_end_s']:.2f} | {n / r['warm_s']:.2f} | "
            f"{r['compile_s']:.1f} | {r['generated_tokens']:,} | {r['peak_rss_mib']:,.0f} |"
        )

    return [
        f"## Exact-match evaluation: arithmetic test split ({n} prompts, greedy, "
        f"<= {EVAL_NEW_TOKENS} new tokens, stop at eos; base model)",
        "",
        "| path | examples/s (end to end) | examples/s (warm) | compile s (up front) | "
        "generated tokens | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|",
        row("before: batches of 8, re-padded per batch", old),
        row("now: bucketed batches, BatchGenerator", new),
        "",
        f"Speed-up: **{old['end_to_end_s'] / new['end_to_end_s']:.2f}x** end to end, "
        f"**{old['warm_s'] / new['warm_s']:.2f}x** warm; same generations: "
        f"{'yes' if old['texts_sha'] == new['texts_sha'] else 'NO'}. (The old path compiles "
        "inside its run; its compile column is 0.)",
        "",
        *_bound_lines(new, old, n),
    ]


def _bound_lines(new: dict, old: dict, n: int) -> list[str]:
    """The FLOP bound of the eval at the worker's own matmul peak (``_eval_flop_bound``)."""
    b = new.get("flop_bound")
    if not b:
        return []
    flops = b["prompt_flops"] + new["generated_tokens"] * b["flops_per_new_token"]
    least_s = flops / b["peak_flops"]
    return [
        f"FLOP bound: {b['prompt_tokens']:,} real prompt tokens and {new['generated_tokens']:,} "
        f"generated tokens need at least {flops / 1e12:.2f} TFLOP of matmuls (decoder "
        "projections for every token, the lm_head row for each prompt's last and every "
        "generated token; attention and padding left out). At the eval process's fp32 matmul "
        f"peak ({b['peak_flops'] / 1e9:.0f} GFLOP/s, jitted 2048^3) that is {least_s:.1f} s, "
        f"at most {n / least_s:.2f} examples/s = "
        f"{old['end_to_end_s'] / least_s:.2f}x the old path; the new path reaches "
        f"{least_s / new['warm_s']:.0%} of that bound warm.",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--worker", choices=["qtn", "torch", "eval"])
    p.add_argument("--folder")
    p.add_argument("--path", choices=["old", "new"], help=argparse.SUPPRESS)
    p.add_argument("--no-eval", action="store_true", help="skip the exact-match eval part")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--cache-dir", default=None)
    args = p.parse_args(argv)
    if args.worker == "eval":
        print(json.dumps(worker_eval(args.folder, args.path)))
        return 0
    if args.worker:
        fn = worker_qtn if args.worker == "qtn" else worker_torch
        print(json.dumps(fn(args.folder, args.reps)))
        return 0
    from qtn.hf import default_model_path

    folder = str(default_model_path(args.cache_dir))
    reps = 2 if args.quick else args.reps
    if args.quick:
        args.rounds = 1
    # Alternate the frameworks for ``--rounds`` rounds and keep each one's best: the CPU may be
    # shared, and alternating spreads any background load over both.
    load_at_start = os.getloadavg()
    runs: dict[str, list[dict]] = {"qtn": [], "torch": []}
    for _ in range(args.rounds):
        for name in runs:
            runs[name].append(run_worker(name, folder, reps))
    res = {name: _best_run(rs) for name, rs in runs.items()}
    if not args.no_eval:
        res["eval"] = {path: run_eval_worker(path, folder) for path in ("old", "new")}
    for r in (res["qtn"], res["torch"]):
        for k in ("forward_compile_s", "generate_compile_s"):
            if r[k] is not None:
                r[k] = round(r[k], 2)
    res["ratio_forward"] = res["torch"]["forward_s"] / res["qtn"]["forward_s"]
    res["ratio_generate"] = res["torch"]["generate_s"] / res["qtn"]["generate_s"]
    given = sys.argv[1:] if argv is None else argv
    res["command"] = " ".join(["python benchmarks/bench_model.py", *given])
    res["threads"] = {"torch": os.cpu_count(), "xla": "default (all cores)"}
    res["machine"] = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    res["cpu_flags"] = cpu_flags()
    res["load_avg_at_start"] = load_at_start
    res["load_avg_at_end"] = os.getloadavg()
    res["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    res["shape"] = {"forward": [BATCH, SEQ], "generate": [GEN_BATCH, GEN_PROMPT, GEN_NEW]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "model.json").write_text(json.dumps(res, indent=2) + "\n")
    md = to_markdown(res)
    (RESULTS / "model.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
