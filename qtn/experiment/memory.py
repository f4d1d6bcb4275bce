"""A run config's memory plan (``qtn plan-memory``) and the check ``qtn train`` does before
loading anything.

The model's shapes come from its ``config.json`` (or GGUF metadata; no weights are read), the
adapted modules from the config's ``adapter`` block applied to an ``nnx.eval_shape`` skeleton
(as ``qtn cost --config`` does), the batch from ``data``, the options from ``model``
(``dtype``, ``param_dtype``), ``train`` (``remat``, ``loss_chunk``, ``grad_accum``) and
``parallel``; :func:`qtn.train.memory.estimate_memory` does the arithmetic.
"""

from __future__ import annotations

import math
from typing import Any

from qtn.experiment.config import RunConfig
from qtn.models.config import LlamaConfig
from qtn.train.memory import AdapterModule, MemoryPlan, estimate_memory, machine_memory

PLATFORMS = ("cpu", "gpu", "tpu")


def adapter_modules(model_cfg: dict[str, Any], config: RunConfig) -> list[AdapterModule]:
    """One :class:`AdapterModule` per module the config's adapter targets (none without one)."""
    from qtn.adapters.costs import target_shapes

    spec = config.adapter_spec
    if spec is None:
        return []
    out = []
    for path, d_in, d_out in target_shapes(model_cfg, spec):
        cfg = spec.config_for(path)
        trainable = int(cfg.trainable_params(d_in, d_out))
        frozen, work = 0, 0
        if hasattr(cfg, "skeleton"):  # tensor-network methods: frozen sites, folded ΔW
            shapes = cfg.skeleton(d_in, d_out).param_shapes().values()
            frozen = max(0, sum(math.prod(s) for s in shapes) - trainable) * 4
            if getattr(cfg, "mode", "delta") == "reparam":
                frozen += d_in * d_out * 4
            work = d_in * d_out * 4
        out.append(AdapterModule(path, d_in, d_out, trainable, frozen, work))
    return out


def plan_run_memory(
    config: RunConfig,
    *,
    devices: int | None = None,
    processes: int = 1,
    platform: str | None = None,
) -> MemoryPlan:
    """The :class:`MemoryPlan` of ``config`` on ``devices`` devices (default: its
    ``parallel`` mesh; a config without a mesh planned for N devices uses ``fsdp = N``) of
    ``platform`` (``cpu``, ``gpu``, ``tpu``; default: this process's JAX backend).

    Raises:
        ValueError: ``devices`` that does not match the config's ``parallel`` mesh.
    """
    from qtn.adapters.costs import model_config_dict

    model_dict = model_config_dict(config.model.path)
    cfg = LlamaConfig.from_dict(model_dict)
    par = config.parallel
    data, fsdp = par.data, par.fsdp
    if devices is not None and devices != par.devices:
        if par.devices != 1:
            raise ValueError(
                f"--devices {devices} does not match the config's parallel mesh "
                f"data={par.data} x fsdp={par.fsdp} = {par.devices}"
            )
        data, fsdp = 1, devices
    if platform is None:
        import jax

        platform = jax.default_backend()
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, got {platform!r}")
    dc = config.data_config()
    modules = adapter_modules(model_dict, config)
    return estimate_memory(
        cfg,
        batch_size=dc.batch_size,
        seq_len=dc.max_len,
        dtype=config.model.dtype,
        param_dtype=config.model.storage_dtype,
        adapters=modules,
        training=config.adapter_spec is not None,
        remat=config.train.remat,
        scan=config.train.scan_layers,
        platform=platform,
        loss_chunk=config.train.loss_chunk,
        grad_accum=config.train.grad_accum,
        data=data,
        fsdp=fsdp,
        processes=processes,
        description=(
            f"memory plan of {config.name}: {config.model.path} ({cfg.model_type}, "
            f"{cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, vocab "
            f"{cfg.vocab_size}), batch {dc.batch_size} x {dc.max_len}, adapter "
            f"{config.adapter_spec.method if config.adapter_spec else 'none'}"
        ),
    )


def default_budget() -> tuple[int, str]:
    """``(bytes, per)``: this machine's RAM per process on CPU, else the first device's memory
    per device (``memory_stats()['bytes_limit']``)."""
    import jax

    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]), "device"
    return machine_memory(), "process"


def check_run_memory(config: RunConfig, max_memory: int | None = None) -> MemoryPlan | None:
    """Refuse ``config`` (:class:`qtn.train.memory.MemoryBudgetError` with the breakdown) when
    its estimate exceeds ``max_memory`` bytes (None: :func:`default_budget`). Returns the plan,
    or None when the model's shapes cannot be read without loading it (e.g. a hub id)."""
    import jax

    try:
        plan = plan_run_memory(config, processes=jax.process_count())
    except (ValueError, FileNotFoundError, KeyError):
        return None
    budget, per = default_budget() if max_memory is None else (max_memory, "process")
    plan.check(budget, per=per)
    return plan
