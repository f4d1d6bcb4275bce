"""Run a sweep's points as ``qtn train`` subprocesses: skip finished ones, resume interrupted
ones, run ``jobs`` at a time, record failures without stopping the others.

A point is

- **finished** when its folder holds ``results.json`` and ``point.json`` has the point's current
  config hash (and does not say the attempt failed): it is skipped;
- **interrupted** (same hash, no results, or a failed attempt): re-run with ``--resume``, which
  continues from its newest checkpoint (qtn train starts fresh when there is none);
- **stale** (folder exists with another config hash): the old folder is moved aside to
  ``<name>.stale-<old hash>`` (nothing is deleted) and the point runs fresh.

SIGTERM or SIGINT to the sweep (a cluster's preemption, ``kill``, Ctrl-C) is forwarded once to
every running point (each runs in its own session, so a terminal's Ctrl-C reaches it only this
way): ``qtn train`` finishes its step, writes a checkpoint and exits 75; such points are
recorded as ``interrupted``, no new point starts (``not_started``), and
:attr:`SweepRun.stopped_by` names the signal. Rerunning the sweep resumes them. No point
process outlives the sweep's stop, so a rerun never races an orphan writing into the same
folder.

The command is a template (:class:`CommandTemplate`), so tests run a tiny fake trainer.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from qtn.sweep.grid import Point
from qtn.sweep.layout import (
    ERROR_FILE,
    LOG_FILE,
    POINT_CONFIG,
    POINT_FILE,
    TRAIN_RESULTS,
    point_dir,
    read_json,
    write_json,
)
from qtn.train.preemption import PREEMPTED_EXIT_CODE, PreemptionGuard

DEFAULT_COMMAND: tuple[str, ...] = (
    "{python}",
    "-m",
    "qtn.cli",
    "train",
    "--config",
    "{config}",
    "--out",
    "{out}",
)
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class CommandTemplate:
    """argv of one run; ``{python}``, ``{config}``, ``{out}``, ``{name}`` are filled in and
    ``resume_flag`` is appended when the point resumes."""

    argv: tuple[str, ...] = DEFAULT_COMMAND
    resume_flag: str = "--resume"

    def render(self, *, config: Path, out: Path, name: str, resume: bool) -> list[str]:
        """The concrete argv for one point."""
        fields = {"python": sys.executable, "config": str(config), "out": str(out), "name": name}
        argv = [part.format(**fields) for part in self.argv]
        return argv + [self.resume_flag] if resume else argv


@dataclass(frozen=True)
class PointPlan:
    """What the runner will do with a point: ``action`` is ``skip``, ``run`` or ``resume``;
    ``stale_hash`` is the config hash of an outdated folder that will be moved aside."""

    point: Point
    dir: Path
    action: str
    stale_hash: str | None = None


@dataclass(frozen=True)
class PointOutcome:
    """The result of one point: ``status`` is ``done``, ``failed``, ``skipped``,
    ``interrupted`` (running when a signal stopped the sweep; resumed by the next run) or
    ``not_started`` (queued when it came)."""

    name: str
    status: str
    returncode: int | None = None
    elapsed_s: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class SweepRun:
    """Outcomes of all points in sweep order."""

    outcomes: tuple[PointOutcome, ...] = field(default_factory=tuple)
    stopped_by: str | None = None  # the signal that stopped the sweep, if one did

    def count(self, status: str) -> int:
        """Number of points with ``status``."""
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        """No point failed."""
        return self.count("failed") == 0


class PointProcesses:
    """The running point processes of one sweep, so that a signal to the sweep reaches them.

    ``stop(signum)`` records the first signal (:attr:`stopped_by`) and forwards ``signum`` to
    every live process; processes started after it are signalled at once."""

    def __init__(self) -> None:
        self._live: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self.stopped_by: str | None = None

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._live.add(proc)
            stopped = self.stopped_by is not None
        if stopped:
            proc.send_signal(signal.SIGTERM)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._live.discard(proc)

    def stop(self, signum: int) -> None:
        with self._lock:
            self.stopped_by = self.stopped_by or signal.Signals(signum).name
            live = list(self._live)
        for proc in live:
            if proc.poll() is None:
                proc.send_signal(signum)


class _ForwardSignals(PreemptionGuard):
    """Context manager: SIGTERM / SIGINT call ``processes.stop`` instead of killing the sweep
    (installed and restored as :class:`PreemptionGuard` does: main thread only)."""

    def __init__(self, processes: PointProcesses):
        super().__init__()
        self.processes = processes

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del frame
        self.processes.stop(signum)

    def __enter__(self) -> PointProcesses:
        super().__enter__()
        return self.processes


def plan_point(point: Point, root: str | os.PathLike) -> PointPlan:
    """Decide, without touching the disk, whether ``point`` is skipped, run or resumed."""
    d = point_dir(root, point.name)
    if not d.exists():
        return PointPlan(point, d, "run")
    state = read_json(d / POINT_FILE)
    if state is None or state.get("config_hash") != point.config_hash:
        empty = not any(d.iterdir())
        old = None if empty else str((state or {}).get("config_hash") or "unknown")
        return PointPlan(point, d, "run", stale_hash=old)
    if is_finished(d, state):
        return PointPlan(point, d, "skip")
    return PointPlan(point, d, "resume")


def is_finished(folder: Path, state: Mapping[str, Any] | None) -> bool:
    """qtn train wrote its results and the last attempt was not recorded as failed."""
    return (folder / TRAIN_RESULTS).is_file() and (state or {}).get("status") != "failed"


def run_point(
    plan: PointPlan,
    template: CommandTemplate = CommandTemplate(),
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
    cwd: str | os.PathLike | None = None,
    processes: PointProcesses | None = None,
) -> PointOutcome:
    """Run one point to completion (or failure) and record it in its ``point.json``; with
    ``processes``, a point not yet started when the sweep was stopped does not start."""
    point = plan.point
    if plan.action == "skip":
        return PointOutcome(point.name, "skipped")
    if processes is not None and processes.stopped_by is not None:
        return PointOutcome(point.name, "not_started", error=f"{processes.stopped_by} came first")
    if plan.stale_hash is not None:
        move_aside(plan.dir, plan.stale_hash)
    plan.dir.mkdir(parents=True, exist_ok=True)
    config_path = plan.dir / POINT_CONFIG
    config = {**point.config, "name": point.name}
    config.pop("out_dir", None)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    resume = plan.action == "resume"
    argv = template.render(
        config=config_path.resolve(), out=plan.dir.resolve(), name=point.name, resume=resume
    )
    previous = read_json(plan.dir / POINT_FILE) or {}
    state: dict[str, Any] = {
        "name": point.name,
        "index": point.index,
        "label": point.label,
        "variant": point.variant,
        "overrides": dict(point.overrides),
        "config_hash": point.config_hash,
        "status": "running",
        "attempts": int(previous.get("attempts", 0)) + 1 if plan.stale_hash is None else 1,
        "resumed": resume,
        "command": argv,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if "seeded_from" in previous:  # started from another point's training (qtn.sweep.reuse)
        state["seeded_from"] = previous["seeded_from"]
    write_json(plan.dir / POINT_FILE, state)
    log_path = plan.dir / LOG_FILE
    offset = log_path.stat().st_size if log_path.exists() else 0
    t0 = time.perf_counter()
    returncode, error = _execute(argv, log_path, env, timeout_s, cwd, processes)
    elapsed = time.perf_counter() - t0
    tail = log_tail(log_path, offset)
    if error is None and not (plan.dir / TRAIN_RESULTS).is_file():
        error = f"exit code 0 but no {TRAIN_RESULTS} was written"
    stopped = processes.stopped_by if processes is not None else None
    if error is None:
        status = "done"
        (plan.dir / ERROR_FILE).unlink(missing_ok=True)
    elif stopped is not None and (returncode == PREEMPTED_EXIT_CODE or (returncode or 0) < 0):
        # checkpointed and exited 75, or killed by the signal before training began
        status, error = "interrupted", f"{stopped}: {error}"
    else:
        status = "failed"
        (plan.dir / ERROR_FILE).write_text(error + "\n\n" + "\n".join(tail) + "\n")
    state.update(
        status=status,
        returncode=returncode,
        elapsed_s=round(elapsed, 3),
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        error=error,
        log_tail=tail if status == "failed" else None,
    )
    write_json(plan.dir / POINT_FILE, state)
    return PointOutcome(point.name, status, returncode, elapsed, error)


def run_points(
    points: Sequence[Point],
    root: str | os.PathLike,
    *,
    jobs: int = 1,
    template: CommandTemplate = CommandTemplate(),
    env: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
    cwd: str | os.PathLike | None = None,
    progress: bool = True,
    on_done: Callable[[Path], Any] | None = None,
) -> SweepRun:
    """Run every unfinished point, ``jobs`` subprocesses at a time, with a tqdm bar (ETA over
    the points to run). A failing point is recorded and the others go on. SIGTERM / SIGINT
    stop the sweep (see the module docstring): ``SweepRun.stopped_by`` is then set.
    ``on_done(folder)`` is called (in this thread) as each point finishes, e.g. to keep it
    (:mod:`qtn.sweep.keep`)."""
    from tqdm.auto import tqdm

    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    plans = [plan_point(p, root) for p in points]
    todo = [p for p in plans if p.action != "skip"]
    outcomes: dict[str, PointOutcome] = {
        p.point.name: PointOutcome(p.point.name, "skipped") for p in plans if p.action == "skip"
    }
    full_env = {**os.environ, **(env or {})}
    bar = tqdm(total=len(todo), desc="sweep", unit="point", disable=not progress)
    if outcomes:
        bar.write(f"sweep: {len(outcomes)} finished point(s) skipped, {len(todo)} to run")
    processes = PointProcesses()
    with bar, _ForwardSignals(processes), cf.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(run_point, plan, template, env=full_env, timeout_s=timeout_s, cwd=cwd,
                        processes=processes): plan
            for plan in todo
        }
        for fut in cf.as_completed(futures):
            plan = futures[fut]
            try:
                outcome = fut.result()
            except Exception as err:  # a runner bug must not lose the other points
                outcome = PointOutcome(plan.point.name, "failed", error=f"runner error: {err!r}")
            outcomes[outcome.name] = outcome
            if outcome.status == "done" and on_done is not None:
                on_done(plan.dir)
            if outcome.status == "failed":
                bar.write(f"sweep: point {outcome.name} failed: {outcome.error}")
            done = sum(o.status == "done" for o in outcomes.values())
            bar.set_postfix(done=done, failed=sum(o.status == "failed" for o in outcomes.values()))
            bar.update(1)
    return SweepRun(tuple(outcomes[p.name] for p in points), stopped_by=processes.stopped_by)


def log_tail(path: str | os.PathLike, offset: int = 0, n: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``n`` non-empty lines of a log after byte ``offset`` (progress bars' carriage
    returns count as line breaks)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(offset, size - 64_000))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    lines = [ln.rstrip() for ln in text.replace("\r", "\n").split("\n")]
    return [ln for ln in lines if ln.strip()][-n:]


def _execute(
    argv: list[str],
    log_path: Path,
    env: Mapping[str, str] | None,
    timeout_s: float | None,
    cwd: str | os.PathLike | None,
    processes: PointProcesses | None = None,
) -> tuple[int | None, str | None]:
    """Run ``argv`` with output appended to ``log_path``; ``(returncode, error or None)``. The
    process runs in its own session and is registered in ``processes`` while it lives."""
    with open(log_path, "ab") as log:
        start = log.tell()
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} $ {' '.join(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as err:
            return None, f"could not start {argv[0]!r}: {err}"
        if processes is not None:
            processes.add(proc)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None, f"timed out after {timeout_s:g} s"
        finally:
            if processes is not None:
                processes.discard(proc)
    if proc.returncode == 0:
        return 0, None
    last = log_tail(log_path, start, 1)
    detail = f": {last[0].strip()}" if last else ""
    return proc.returncode, f"exit code {proc.returncode}{detail}"


def move_aside(folder: Path, old_hash: str) -> Path:
    """Rename an outdated point folder to ``<name>.stale-<hash>[-k]`` and return the new path."""
    target = folder.with_name(f"{folder.name}.stale-{old_hash[:8]}")
    k = 1
    while target.exists():
        k += 1
        target = folder.with_name(f"{folder.name}.stale-{old_hash[:8]}-{k}")
    folder.rename(target)
    return target
