"""What the benchmark result files record about the machine (imported by the bench_* scripts,
which run as ``python benchmarks/bench_X.py`` so this folder is on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path


def cpu_flags() -> str:
    """The CPU's vector extensions that matter for these kernels (from /proc/cpuinfo)."""
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    found = [name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX-512F"),
                                     ("avx512_bf16", "AVX-512-BF16"), ("amx_tile", "AMX"))
             if flag in words]
    return ", ".join(found) or "no AVX2"


def run_meta(command: str, loadavg_start: tuple[float, float, float]) -> dict:
    """The ``meta`` block of a result file: command, machine, vector extensions, date and the
    load average at start (given) and now."""
    import os
    import platform
    import time

    return {
        "command": command,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "cpu_flags": cpu_flags(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loadavg_start": loadavg_start,
        "loadavg_end": os.getloadavg(),
    }


def write_results(results_dir: Path, name: str, out: dict, markdown: str) -> None:
    """``<name>.json`` and ``<name>.md`` in ``results_dir``; prints the markdown."""
    import json

    results_dir.mkdir(exist_ok=True)
    (results_dir / f"{name}.json").write_text(json.dumps(out, indent=2))
    (results_dir / f"{name}.md").write_text(markdown)
    print(markdown)


def lower_and_compile(fn, *args) -> tuple[dict, object]:
    """Lower and compile the jitted ``fn`` at ``args``: ``({lower_s, compile_s, compile_cpu_s,
    hlo_chars, hlo_ops}, compiled)`` (StableHLO size of the lowered program)."""
    import re
    import time

    t = time.perf_counter()
    lowered = fn.lower(*args)
    lower_s = time.perf_counter() - t
    text = lowered.as_text()
    t, cpu = time.perf_counter(), time.process_time()
    compiled = lowered.compile()
    stats = {
        "lower_s": lower_s,
        "compile_s": time.perf_counter() - t,
        "compile_cpu_s": time.process_time() - cpu,
        "hlo_chars": len(text),
        "hlo_ops": len(re.findall(r"stablehlo\.\w+", text)),
    }
    return stats, compiled


def call_seconds(fn, *args, reps: int) -> list[float]:
    """Seconds of each of ``reps`` calls of ``fn(*args)`` (blocking on the result) after one
    warm-up call."""
    import time

    import jax

    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return times


def best_seconds(fn, *args, reps: int = 20) -> float:
    """Fastest of ``reps`` calls of ``fn(*args)`` after one warm-up call."""
    return min(call_seconds(fn, *args, reps=reps))


def matmul_peak_flops(n: int = 2048) -> float:
    """This process's fp32 matmul peak: FLOP/s of the fastest jitted n x n x n product."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((n, n), jnp.float32)
    return 2 * n**3 / best_seconds(jax.jit(lambda x, y: x @ y), a, a)


def steady_seconds(compiled, *args, reps: int = 10) -> float:
    """Median seconds of ``compiled(*args)`` over ``reps`` calls after one warm-up call."""
    times = sorted(call_seconds(compiled, *args, reps=reps))
    return times[len(times) // 2]
