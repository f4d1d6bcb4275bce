"""Run a sweep's points on a Ray cluster: ``qtn sweep SWEEP --backend ray [--address H:P]``.

Each point that is not finished becomes one Ray task with the point's resources (the sweep's
``resources: {num_cpus: 1, num_gpus: 0}``, plus any custom Ray resources), and the task does
exactly what the local backend does in a thread: :func:`qtn.sweep.runner.run_point` (a
``qtn train`` subprocess on the worker node writing into the point's folder, ``point.json``,
``train.log``...). So the sweep folder must be on storage every node sees (an NFS / shared
mount at the same path), and skipping finished points and resuming interrupted ones works as
with the local backend (:func:`qtn.sweep.runner.plan_point` decides on the driver).

``address``: an existing cluster (``ray start --head`` then ``HOST:PORT``, or ``auto``);
None starts a local Ray instance for the duration of the sweep (workers then import the same
qtn as the driver). Ray is an optional extra: ``pip install qtn[ray]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qtn.sweep.grid import Point
from qtn.sweep.runner import (
    CommandTemplate,
    PointOutcome,
    PointPlan,
    SweepRun,
    plan_point,
    run_point,
)

DEFAULT_RESOURCES: Mapping[str, float] = {"num_cpus": 1, "num_gpus": 0}
_TASK_OPTIONS = ("num_cpus", "num_gpus", "memory")


def import_ray() -> Any:
    """``ray``, or an ImportError saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ImportError(
            "the ray backend needs Ray: pip install 'qtn[ray]' (or pip install ray)"
        ) from err
    return ray


def task_options(resources: Mapping[str, Any] | None) -> dict[str, Any]:
    """Ray task options from a sweep's ``resources`` mapping: ``num_cpus``, ``num_gpus``,
    ``memory`` (bytes) as they are; any other key is a custom resource."""
    res = {**DEFAULT_RESOURCES, **(resources or {})}
    options = {k: res[k] for k in _TASK_OPTIONS if k in res}
    custom = {k: float(v) for k, v in res.items() if k not in _TASK_OPTIONS}
    if custom:
        options["resources"] = custom
    for k, v in options.items():
        if k != "resources" and (isinstance(v, bool) or not isinstance(v, int | float) or v < 0):
            raise ValueError(f"resources.{k} must be a number >= 0, got {v!r}")
    return options


def _run_point_task(
    plan: PointPlan,
    template: CommandTemplate,
    env: Mapping[str, str],
    timeout_s: float | None,
    cwd: str | None,
) -> PointOutcome:
    """The body of one Ray task: the local runner's ``run_point`` on the worker."""
    return run_point(
        plan, template, env={**os.environ, **env}, timeout_s=timeout_s, cwd=cwd
    )


def run_points_ray(
    points: Sequence[Point],
    root: str | os.PathLike,
    *,
    address: str | None = None,
    resources: Mapping[str, Any] | None = None,
    template: CommandTemplate | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
    cwd: str | os.PathLike | None = None,
    progress: bool = True,
) -> SweepRun:
    """Run every unfinished point as a Ray task (see the module docstring); a failed point is
    recorded and the others go on. Uses the running Ray instance when there is one."""
    from tqdm.auto import tqdm

    ray = import_ray()
    template = template or CommandTemplate()
    root = Path(root).resolve()  # workers may start elsewhere: absolute paths only
    cwd = str(Path(cwd or os.getcwd()).resolve())
    options = task_options(resources)
    started = False
    if not ray.is_initialized():
        package_root = str(Path(__file__).resolve().parents[2])
        runtime_env = None if address else {"env_vars": {"PYTHONPATH": _pythonpath(package_root)}}
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        started = True
    try:
        plans = [plan_point(p, root) for p in points]
        outcomes: dict[str, PointOutcome] = {
            p.point.name: PointOutcome(p.point.name, "skipped") for p in plans if p.action == "skip"
        }
        task = ray.remote(_run_point_task).options(**options)
        pending = {
            task.remote(plan, template, dict(env or {}), timeout_s, cwd): plan
            for plan in plans
            if plan.action != "skip"
        }
        bar = tqdm(total=len(pending), desc="sweep (ray)", unit="point", disable=not progress)
        with bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                plan = pending.pop(ready[0])
                try:
                    outcome = ray.get(ready[0])
                except Exception as err:  # a lost worker must not lose the other points
                    outcome = PointOutcome(plan.point.name, "failed", error=f"ray task: {err!r}")
                outcomes[outcome.name] = outcome
                if outcome.status == "failed":
                    bar.write(f"sweep: point {outcome.name} failed: {outcome.error}")
                bar.update(1)
        return SweepRun(tuple(outcomes[p.name] for p in points))
    finally:
        if started:
            ray.shutdown()


def _pythonpath(package_root: str) -> str:
    """``PYTHONPATH`` for local workers: the driver's qtn first, then the driver's own."""
    rest = os.environ.get("PYTHONPATH")
    return os.pathsep.join([package_root] + ([rest] if rest else []))
