"""Jobs, not calls: deduplication, batching into jobs, retries and a durable result cache.

Every executor call of a host executor (``qtn.quantum.host``) hands :meth:`JobRunner.run` a
circuit template and its batch of slot angles (the forward circuits, or the shifted copies of a
gradient rule). The runner

1. keys every circuit by a canonical hash (:func:`circuit_keys`): the template's text (qubit
   count, gate names and qubits) and its angles at :data:`~qtn.quantum.tracker.ANGLE_DECIMALS`
   decimals (integers in units of 1e-8 rad), so equal circuits — equal tokens, repeated
   shifts — share one key;
2. answers the keys its :class:`ResultCache` holds for this (shots, backend) and counts them
   as ``cache_hits``;
3. sends the other distinct circuits in jobs of at most ``job_size`` circuits (200 by default:
   Origin's cloud limit), up to ``max_in_flight`` jobs at once (a thread pool; a local
   simulator runs them one after the other);
4. stores each finished job's results in the cache at once (one SQLite transaction per job),
   so a run killed mid-step and resumed resubmits only circuits whose result was not stored;
5. retries a failing or timed-out job with exponential backoff (``backoff_s · 2^k``); after
   ``max_attempts`` failures it raises :class:`JobError` with the job id and the last error
   (inside ``jit`` this surfaces as a runtime error carrying the same text; the runner keeps
   it in ``failure``).

The cache file (:data:`CACHE_FILE` in the run folder) is SQLite in WAL mode, one row per
(circuit hash, shots, backend name) holding the estimated probabilities (qtn order, float64):
a finished job survives a crash of the process. Without a folder the cache lives in memory.
A job's id is ``<backend>-<hash of its circuit keys>`` (stable across runs); a cloud backend
adds its own remote job id to the errors it raises.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qtn.quantum.circuit import Circuit
from qtn.quantum.host import circuit_seed
from qtn.quantum.tracker import ANGLE_DECIMALS, DEFAULT_JOB_SIZE, Tracker

CACHE_FILE = "quantum_cache.sqlite"
_LOG = logging.getLogger(__name__)


class JobError(RuntimeError):
    """A job failed ``attempts`` times; ``job_id`` names it, ``error`` is the last error."""

    def __init__(self, job_id: str, attempts: int, error: BaseException):
        self.job_id, self.attempts, self.error = job_id, attempts, error
        super().__init__(
            f"quantum job {job_id} failed after {attempts} attempt(s): "
            f"{type(error).__name__}: {error}"
        )


# ---- canonical circuit keys ----


@functools.lru_cache(maxsize=256)
def template_text(circuit: Circuit) -> str:
    """The template's canonical text: qubit count and gates in time order (angles apart)."""
    gates = ";".join(f"{g.name} {','.join(map(str, g.qubits))}" for g in circuit.gates)
    return f"qtn-circuit/1 qubits={circuit.n_qubits} {gates}"


def circuit_keys(circuit: Circuit, angles: np.ndarray) -> list[str]:
    """One hex key per row of ``angles: (B, n_slots)``: sha256 of :func:`template_text` and the
    slot angles rounded to ``ANGLE_DECIMALS`` decimals (as int64 multiples of 1e-8)."""
    head = hashlib.sha256(template_text(circuit).encode()).digest()
    fixed = np.rint(np.asarray(angles, np.float64) * 10.0**ANGLE_DECIMALS).astype(np.int64)
    return [hashlib.sha256(head + row.tobytes()).hexdigest() for row in fixed]


# ---- the durable result cache ----


class ResultCache:
    """(circuit hash, shots, backend) -> probabilities, in SQLite at ``path`` (WAL mode) or in
    memory (``path=None``). Thread-safe; every :meth:`put` is one committed transaction."""

    def __init__(self, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        target = ":memory:" if self.path is None else str(self.path)
        self._conn = sqlite3.connect(target, check_same_thread=False, timeout=60.0)
        self._lock = threading.Lock()
        with self._lock:
            if self.path is not None:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS results (circuit TEXT NOT NULL, shots INTEGER NOT "
                "NULL, backend TEXT NOT NULL, dim INTEGER NOT NULL, probs BLOB NOT NULL, "
                "job TEXT, PRIMARY KEY (circuit, shots, backend)) WITHOUT ROWID"
            )
            self._conn.commit()

    def get(self, keys: Sequence[str], shots: int | None, backend: str) -> dict[str, np.ndarray]:
        """The stored probabilities of those ``keys`` that are present."""
        out: dict[str, np.ndarray] = {}
        keys = list(keys)
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT circuit, probs FROM results WHERE shots = ? AND backend = ? "
                    f"AND circuit IN ({marks})",
                    [shots or 0, backend, *chunk],
                )
                for key, blob in rows:
                    out[key] = np.frombuffer(blob, np.float64).copy()
        return out

    def put(self, keys: Sequence[str], probs: np.ndarray, shots: int | None, backend: str,
            job: str = "") -> None:
        """Store ``probs: (len(keys), dim)`` (one committed transaction)."""
        probs = np.asarray(probs, np.float64)
        rows = [
            (k, shots or 0, backend, p.shape[0], p.tobytes(), job)
            for k, p in zip(keys, probs, strict=True)
        ]
        with self._lock:
            self._conn.executemany(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)", rows
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# ---- jobs ----


@dataclass(frozen=True)
class JobPolicy:
    """How circuits become jobs: ``job_size`` circuits per job, ``max_in_flight`` jobs at once
    (capped by the backend's own limit), ``max_attempts`` tries per job with ``backoff_s ·
    2^k`` seconds between them, ``timeout_s`` per attempt (enforced by backends that wait on a
    remote job; None = wait forever)."""

    job_size: int = DEFAULT_JOB_SIZE
    max_in_flight: int = 4
    max_attempts: int = 4
    backoff_s: float = 2.0
    timeout_s: float | None = 600.0

    def __post_init__(self):
        for name in ("job_size", "max_in_flight", "max_attempts"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"jobs: {name} must be an integer >= 1, got {value!r}")
        if self.backoff_s < 0:
            raise ValueError(f"jobs: backoff_s must be >= 0, got {self.backoff_s}")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ValueError(f"jobs: timeout_s must be > 0 or None, got {self.timeout_s}")


class JobRunner:
    """Runs circuits on ``backend`` in jobs through ``cache`` (see the module docstring).

    ``seed`` derives one sampling seed per circuit (``qtn.quantum.host.circuit_seed``);
    ``tracker`` receives ``cache_hits`` and ``jobs_submitted``; ``progress`` shows a tqdm bar
    (stderr) of jobs submitted / finished / cached per call; ``sleep`` is the backoff wait
    (tests pass a no-op). ``stats`` holds running totals; ``failure`` the error that stopped
    the runner, if any."""

    def __init__(
        self,
        backend,
        cache: ResultCache | None = None,
        policy: JobPolicy = JobPolicy(),
        *,
        seed: int = 0,
        tracker: Tracker | None = None,
        progress: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.backend = backend
        self.cache = cache if cache is not None else ResultCache()
        self.policy = policy
        self.seed = int(seed)
        self.tracker = tracker
        self.progress = progress
        self.sleep = sleep
        self.stats = {"circuits": 0, "cached": 0, "submitted": 0, "finished": 0, "retries": 0}
        self.failures: list[JobError] = []
        self._lock = threading.Lock()

    @property
    def failure(self) -> JobError | None:
        """The first job failure (None while no job has failed for good)."""
        return self.failures[0] if self.failures else None

    @property
    def identity(self) -> str:
        """What produced a result (cache key with circuit and shots): backend name and seed."""
        return f"{self.backend.name}/seed={self.seed}"

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.identity,
            "job_size": self.policy.job_size,
            "cache": str(self.cache.path) if self.cache.path else "memory",
        }

    def run(self, circuit: Circuit, angles: np.ndarray) -> np.ndarray:
        """Estimated probabilities (B, 2^n) of the circuits ``angles: (B, n_slots)``."""
        angles = np.asarray(angles, np.float64).reshape(-1, circuit.n_slots)
        keys = circuit_keys(circuit, angles)
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        backend, shots = self.identity, self.backend.shots
        results = self.cache.get(list(first), shots, backend)
        todo = [k for k in first if k not in results]
        size = self.policy.job_size
        jobs = [todo[s : s + size] for s in range(0, len(todo), size)]
        with self._lock:
            self.stats["circuits"] += len(keys)
            self.stats["cached"] += len(first) - len(todo)
            self.stats["submitted"] += len(jobs)
        if self.tracker is not None:
            self.tracker.add(cache_hits=len(first) - len(todo), jobs_submitted=len(jobs))
        if jobs:
            _LOG.info("%s: %d circuits, %d distinct, %d cached, %d job(s) to submit",
                      backend, len(keys), len(first), len(first) - len(todo), len(jobs))

        def one(job_keys: list[str]) -> tuple[list[str], np.ndarray]:
            rows = angles[[first[k] for k in job_keys]]
            seeds = np.array([circuit_seed(self.seed, k) for k in job_keys], np.uint64)
            job_id = f"{_short(backend)}-{_digest(job_keys)}"
            probs = self._attempts(job_id, circuit, rows, seeds)
            self.cache.put(job_keys, probs, shots, backend, job_id)
            return job_keys, probs

        workers = max(1, min(self.policy.max_in_flight, self.backend.max_in_flight, len(jobs)))
        bar = self._bar(len(jobs), len(first) - len(todo), circuit)
        try:
            if workers == 1:
                for job_keys in jobs:
                    done_keys, probs = one(job_keys)
                    results.update(zip(done_keys, probs, strict=True))
                    self._finished(bar)
            elif jobs:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    pending = {pool.submit(one, j) for j in jobs}
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                        for fut in done:
                            if fut.exception() is not None:
                                for other in pending:
                                    other.cancel()
                                raise fut.exception()
                            done_keys, probs = fut.result()
                            results.update(zip(done_keys, probs, strict=True))
                            self._finished(bar)
        finally:
            if bar is not None:
                bar.close()
        return np.stack([results[k] for k in keys])

    def _attempts(self, job_id: str, circuit: Circuit, rows: np.ndarray,
                  seeds: np.ndarray) -> np.ndarray:
        attempts = self.policy.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                probs = np.asarray(
                    self.backend.run_job(circuit, rows, seeds, self.policy.timeout_s), np.float64
                )
                if probs.shape != (rows.shape[0], circuit.dim):
                    raise ValueError(f"backend returned shape {probs.shape}, expected "
                                     f"{(rows.shape[0], circuit.dim)}")
                return probs
            except Exception as err:  # noqa: BLE001 - any backend error is retried
                if attempt == attempts:
                    failure = JobError(job_id, attempts, err)
                    with self._lock:  # jobs in flight may fail together
                        self.failures.append(failure)
                    raise failure from err
                wait_s = self.policy.backoff_s * 2 ** (attempt - 1)
                _LOG.warning("job %s attempt %d/%d failed (%s: %s); retrying in %.1f s",
                             job_id, attempt, attempts, type(err).__name__, err, wait_s)
                with self._lock:
                    self.stats["retries"] += 1
                self.sleep(wait_s)
        raise AssertionError("unreachable")

    def _bar(self, jobs: int, cached: int, circuit: Circuit):
        if not (self.progress and jobs):
            return None
        from tqdm import tqdm

        bar = tqdm(total=jobs, desc=f"{circuit.name} jobs", unit="job", file=sys.stderr,
                   leave=False)
        bar.set_postfix(submitted=jobs, cached=cached)
        return bar

    def _finished(self, bar) -> None:
        with self._lock:
            self.stats["finished"] += 1
        if bar is not None:
            bar.update(1)


def _digest(keys: Sequence[str]) -> str:
    return hashlib.sha256("".join(keys).encode()).hexdigest()[:12]


def _short(name: str) -> str:
    return name.split("/")[0] + ("-" + name.split("/")[1] if "/" in name else "")

