"""Counting what a run sends to its executor (PennyLane's ``Tracker``, made explicit).

A :class:`Tracker` is attached to an executor by the code that builds it (no global state);
every ``executor.probabilities`` call reports, at run time through a host callback, the
circuits it evaluated: how many, how many distinct (rows of slot angles equal after rounding
to :data:`ANGLE_DECIMALS` decimals: what a result cache keyed by the circuit text would
hit), the shots, and the jobs a cloud backend would need at ``job_size`` circuits per job
(Origin's documented limit: 200). Executors that run circuits outside JAX (``qtn.quantum.host``)
also report what their job runner did: ``cache_hits`` (distinct circuits answered by the result
cache) and ``jobs_submitted`` (jobs actually sent to the backend). ``take()`` returns the counts
since the last ``take()`` (one training step), ``totals`` everything so far.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass, field

import jax
import numpy as np

ANGLE_DECIMALS = 8
DEFAULT_JOB_SIZE = 200
COUNT_KEYS = (
    "calls", "circuits", "distinct_circuits", "shots", "jobs", "cache_hits", "jobs_submitted"
)


@dataclass(eq=False)
class Tracker:
    """Mutable host-side counters (see module docstring). ``distinct=False`` skips the
    per-call transfer of the angles to the host (then distinct = circuits)."""

    job_size: int = DEFAULT_JOB_SIZE
    distinct: bool = True
    step: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    # host callbacks of one compiled program may run on several threads
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, angles: np.ndarray | None, *, rows: int, shots: int) -> None:
        """Count one executor call of ``rows`` circuits at ``shots`` shots each."""
        distinct = rows if angles is None else distinct_rows(angles)
        counts = {
            "calls": 1,
            "circuits": rows,
            "distinct_circuits": distinct,
            "shots": distinct * shots,
            "jobs": math.ceil(distinct / self.job_size),
        }
        self.add(**counts)

    def add(self, **counts: int) -> None:
        """Add ``counts`` (keys of :data:`COUNT_KEYS`) to this step and the totals."""
        unknown = sorted(set(counts) - set(COUNT_KEYS))
        if unknown:
            raise ValueError(f"unknown tracker count(s) {unknown}; known: {COUNT_KEYS}")
        with self._lock:
            for key, value in counts.items():
                self.step[key] += value
                self.totals[key] += value

    def take(self) -> dict[str, int]:
        """Counts since the previous call (waits for pending device callbacks first)."""
        jax.effects_barrier()
        with self._lock:
            out = dict(self.step)
            self.step = dict.fromkeys(COUNT_KEYS, 0)
        return out


def distinct_rows(angles: np.ndarray) -> int:
    """Number of distinct rows of ``angles: (B, G)`` at :data:`ANGLE_DECIMALS` decimals."""
    a = np.round(np.asarray(angles, np.float64), ANGLE_DECIMALS) + 0.0  # -0.0 == 0.0
    return len(np.unique(a.reshape(a.shape[0], -1), axis=0)) if a.size else a.shape[0]


def track(tracker: Tracker | None, circuit, angles: jax.Array, *, shots: int) -> None:
    """Report one executor call to ``tracker`` (no-op when None). Inside jit this is a host
    callback that runs every time the compiled program runs."""
    if tracker is None:
        return
    rows = int(angles.shape[0])
    if tracker.distinct:
        jax.debug.callback(
            functools.partial(_record, tracker, rows=rows, shots=shots), angles
        )
    else:
        jax.debug.callback(functools.partial(tracker.record, None, rows=rows, shots=shots))


def _record(tracker: Tracker, angles, *, rows: int, shots: int) -> None:
    tracker.record(np.asarray(angles), rows=rows, shots=shots)
