"""Compile every program of a run before its first step: trace in order, compile in parallel.

A run knows all its batch shapes in advance (the data iterator's plan is deterministic), so the
training step of each shape, the evaluation programs and the generation programs can all be
built up front. Tracing and lowering are Python (one at a time, in the calling thread); XLA
compilations then run in a thread pool (XLA releases the GIL while it compiles). With JAX's
persistent compilation cache enabled (:func:`enable_persistent_cache`) a program compiled by an
earlier run with the same shapes, flags and machine is loaded instead of compiled.

    jobs = [CompileJob("train (8, 128)", lower=..., install=...), ...]
    report = compile_all(jobs)          # report.total_s, report.per_program
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CompileJob:
    """One program: ``lower() -> jax.stages.Lowered`` (traced, not compiled) and
    ``install(compiled)``, which hands the compiled program to its owner."""

    name: str
    lower: Callable[[], Any]
    install: Callable[[Any], None]


@dataclass(frozen=True)
class CompileReport:
    """Seconds spent: ``lower_s`` tracing + lowering (sequential), ``compile_s`` the parallel
    XLA phase (wall), ``total_s`` both; ``per_program``: each program's own compile seconds
    (they overlap); ``workers``: threads used."""

    programs: int
    lower_s: float
    compile_s: float
    total_s: float
    workers: int
    per_program: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "programs": self.programs,
            "lower_s": round(self.lower_s, 3),
            "compile_s": round(self.compile_s, 3),
            "total_s": round(self.total_s, 3),
            "workers": self.workers,
            "per_program": {k: round(v, 3) for k, v in self.per_program.items()},
        }


def compile_all(jobs: Sequence[CompileJob], workers: int | None = None) -> CompileReport:
    """Lower every job in order, compile them on ``workers`` threads (default: the CPU count,
    at most the number of jobs), install each. Errors propagate after all compiles end."""
    t0 = time.perf_counter()
    lowered = [(job, job.lower()) for job in jobs]
    t1 = time.perf_counter()
    n = max(1, min(workers or os.cpu_count() or 1, len(jobs)))

    def build(item: tuple[CompileJob, Any]) -> tuple[CompileJob, Any, float]:
        job, low = item
        start = time.perf_counter()
        return job, low.compile(), time.perf_counter() - start

    per: dict[str, float] = {}
    with cf.ThreadPoolExecutor(max_workers=n) as pool:
        for job, compiled, seconds in pool.map(build, lowered):
            job.install(compiled)
            per[job.name] = seconds
    t2 = time.perf_counter()
    return CompileReport(len(jobs), t1 - t0, t2 - t1, t2 - t0, n, per)


def step_jobs(name: str, step: Any, batches: Sequence[Any]) -> list[CompileJob]:
    """One job per distinct shape of ``batches`` not yet compiled by ``step`` (a
    :class:`qtn.train.steps.TrainStep` or ``EvalStep``)."""
    jobs: dict[tuple, CompileJob] = {}
    for batch in batches:
        key = step.shape_key(batch)
        if key in jobs or step.compiled(batch):
            continue
        jobs[key] = CompileJob(
            f"{name} {tuple(batch['input_ids'].shape)}",
            lower=lambda b=batch: step.lower(b)[1],
            install=lambda compiled, k=key: step.install(k, compiled),
        )
    return list(jobs.values())


def enable_persistent_cache(path: str | os.PathLike) -> Path:
    """Point JAX's persistent compilation cache at ``path`` (created) and cache every program,
    however fast it compiled (a run's programs are all re-used by the next run of the same
    config). This is process-wide JAX state, set explicitly by the caller (``qtn train`` does
    it from ``train.compile_cache_dir``), never at import. Returns the folder. The cache is
    trusted code: keep it in a folder only you can write."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    folder = Path(path).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if jax.config.jax_compilation_cache_dir not in (None, str(folder)):
        compilation_cache.reset_cache()  # a cache opened on another folder stays open otherwise
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
