"""Several processes (hosts) as one JAX runtime: ``jax.distributed.initialize`` from the
environment, nothing home-made.

:func:`initialize_from_env` reads, in this order:

1. **Explicit** (any launcher, e.g. Kubernetes): ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of
   process 0), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (0-based; on a Kubernetes indexed
   Job / JobSet ``JOB_COMPLETION_INDEX`` is used when ``JAX_PROCESS_ID`` is unset). Kubernetes
   convention: a headless Service in front of the Job's pods, and
   ``JAX_COORDINATOR_ADDRESS=<job>-0.<service>:1234``, ``JAX_NUM_PROCESSES=<parallelism>``.
2. **Slurm**: inside a job step with several tasks (``srun --ntasks=N``; ``SLURM_JOB_ID``,
   ``SLURM_NTASKS`` > 1, ``SLURM_PROCID``, ``SLURM_STEP_NODELIST``), JAX's own Slurm cluster
   detection picks the coordinator (first node of the step) and the process ids.
3. Otherwise one process: nothing is initialised.

Every process then runs the same program: :func:`qtn.nn.sharding.make_mesh` sees the devices
of all processes, each process feeds the same global batch and places only its own shards,
and only process 0 writes files (:func:`is_primary`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EXPLICIT_VARS = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


@dataclass(frozen=True)
class ProcessEnv:
    """How this process joins the runtime: ``kind`` is ``single``, ``explicit`` or ``slurm``."""

    kind: str
    coordinator: str | None = None
    num_processes: int = 1
    process_id: int = 0


def detect(env: Mapping[str, str] | None = None) -> ProcessEnv:
    """The :class:`ProcessEnv` described by ``env`` (default ``os.environ``).

    Raises:
        ValueError: a partial or malformed explicit setting (the message names the variable).
    """
    env = os.environ if env is None else env
    address = env.get("JAX_COORDINATOR_ADDRESS")
    count = env.get("JAX_NUM_PROCESSES")
    pid = env.get("JAX_PROCESS_ID", env.get("JOB_COMPLETION_INDEX"))
    if address or count:
        missing = [
            name
            for name, value in zip(EXPLICIT_VARS, (address, count, pid), strict=True)
            if not value
        ]
        if missing:
            raise ValueError(
                f"multi-process setup needs {list(EXPLICIT_VARS)}; missing {missing} "
                "(or unset JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES for one process)"
            )
        n, i = _int("JAX_NUM_PROCESSES", count), _int("JAX_PROCESS_ID", pid)
        if ":" not in address:
            raise ValueError(f"JAX_COORDINATOR_ADDRESS must be host:port, got {address!r}")
        if not 0 <= i < n:
            raise ValueError(f"JAX_PROCESS_ID={i} must be in [0, JAX_NUM_PROCESSES={n})")
        return ProcessEnv("explicit", address, n, i)
    if env.get("SLURM_JOB_ID") and _int("SLURM_NTASKS", env.get("SLURM_NTASKS", "1")) > 1:
        return ProcessEnv(
            "slurm",
            None,
            _int("SLURM_NTASKS", env["SLURM_NTASKS"]),
            _int("SLURM_PROCID", env.get("SLURM_PROCID", "0")),
        )
    return ProcessEnv("single")


def initialize_from_env(env: Mapping[str, str] | None = None) -> ProcessEnv:
    """Call ``jax.distributed.initialize`` for a multi-process environment (no-op for one
    process, or when already initialised). Must run before any JAX computation."""
    info = detect(env)
    if info.kind == "single":
        return info
    import jax

    if jax.distributed.is_initialized():
        return info
    if info.kind == "explicit":
        jax.distributed.initialize(
            coordinator_address=info.coordinator,
            num_processes=info.num_processes,
            process_id=info.process_id,
        )
    else:
        jax.distributed.initialize(cluster_detection_method="slurm")
    return info


def is_primary() -> bool:
    """True in process 0 (the one that writes logs, checkpoints and results)."""
    import jax

    return jax.process_index() == 0


def _int(name: str, value: str | None) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def mesh_for(parallel: Any) -> Any:
    """The device mesh of a ``parallel`` config section (:class:`qtn.train.config.
    ParallelConfig`), after joining the other processes when ``distributed: auto`` and the
    environment describes several; None for one device in one process (no mesh needed)."""
    if parallel.distributed == "auto":
        initialize_from_env()
    import jax

    from qtn.nn.sharding import make_mesh

    if parallel.devices == 1 and jax.process_count() == 1:
        return None
    return make_mesh(parallel.data, parallel.fsdp)
