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
