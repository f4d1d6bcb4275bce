"""``run_training(config) -> results``: one complete run (load, inject, train, evaluate, save).

Output folder (``config.out_dir``, default ``runs/<name>``)::

    config.yaml          the resolved config of this run
    params.md            parameter table (per adapted module, total, ratio to LoRA r=8)
    metrics.jsonl        one row per logged step and per evaluation
    checkpoints/         step_XXXXXXXX/ (adapter + optimizer + RNG + data position)
    quantum_cache.sqlite results of the circuits an SDK executor ran (pyqpanda3 / qiskit-aer;
                         qtn.quantum.jobs): a resumed run resubmits none of them
    adapter/             adapter.safetensors + adapter_config.json (final)
    results.json         method, trainable params, train/eval loss, task metric, the split's
                         majority-class baseline, wall time split into ``compile_s`` (every
                         program of the run, built before the first step), ``train_s`` and
                         ``eval_s``, the first 20 scored samples

The same config and seed give identical results; a run interrupted after a checkpoint and
restarted with ``resume=True`` ends with the same results as an uninterrupted one.

Scale (see :mod:`qtn.experiment.config`): the memory plan is checked before anything is
loaded (:func:`qtn.experiment.memory.check_run_memory`); with a ``parallel`` mesh the weights
are loaded straight into their shardings and the steps run on the mesh; with several
processes only process 0 writes files. SIGTERM / SIGINT raise
:class:`qtn.train.preemption.Preempted` after a checkpoint (``qtn train`` exits 75).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

import yaml
from flax import nnx

from qtn.adapters.inject import inject_spec
from qtn.adapters.io import save_adapter
from qtn.adapters.params import param_table
from qtn.data.iterator import IteratorState
from qtn.data.pipeline import build_data
from qtn.experiment.config import RunConfig, load_config
from qtn.experiment.tasks import FinalEvaluation
from qtn.nn.quantum import circuit_layers, configure_quantum
from qtn.quantum.config import make_runner
from qtn.quantum.tracker import Tracker
from qtn.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from qtn.train.compile import compile_all, enable_persistent_cache, step_jobs
from qtn.train.config import parse_override, set_dotted
from qtn.train.distributed import is_primary, mesh_for
from qtn.train.evaluate import evaluate_loss
from qtn.train.loop import LoopState, fit
from qtn.train.metrics import MetricsLog
from qtn.train.optim import make_optimizer
from qtn.train.steps import PACKED_KEYS, EvalStep, TrainStep

ModelLoader = Callable[[RunConfig], tuple[nnx.Module, Any]]
RESULTS_FILE = "results.json"
DEFAULT_MODEL = "default"
DEFAULT_CACHE = "default"


def resolve_model_path(path: str) -> Path:
    """A local HF folder for ``path`` (``default`` = the offline SmolLM2-135M-Instruct)."""
    from qtn.hf import default_model_path, resolve_checkpoint

    return default_model_path() if path == DEFAULT_MODEL else resolve_checkpoint(path)


def load_model(config: RunConfig, mesh: Any = None) -> tuple[nnx.Module, Any]:
    """``qtn.hf.from_pretrained(config.model.path, dtype=..., param_dtype=...)`` -> (model,
    tokenizer), each weight streamed into its sharding on ``mesh`` when given."""
    from qtn.hf import from_pretrained
    from qtn.nn.sharding import param_sharding_fn

    return from_pretrained(
        resolve_model_path(config.model.path),
        dtype=config.model.dtype,
        param_dtype=config.model.storage_dtype,
        shardings=param_sharding_fn(mesh) if mesh is not None else None,
    )


def run_training(
    config: RunConfig | Mapping[str, Any] | str | os.PathLike,
    *,
    resume: bool = False,
    overrides: tuple[str, ...] = (),
    out_dir: str | os.PathLike | None = None,
    model_loader: ModelLoader | None = None,
    max_memory: int | None = None,
    check_memory: bool = True,
) -> dict[str, Any]:
    """Train (unless the config has no adapter) and evaluate; returns the results dict that is
    also written to ``<out_dir>/results.json``.

    Args:
        config: a RunConfig, its dict form, or a YAML path (``overrides`` apply to the latter
            two: ``("train.lr=3e-4", ...)``).
        resume: continue from the newest checkpoint in ``<out_dir>/checkpoints`` (a fresh start
            when there is none). Without it, a folder that already holds checkpoints or a
            results.json is an error (nothing is overwritten silently).
        out_dir: overrides ``config.out_dir``.
        model_loader: ``loader(config) -> (model, tokenizer)`` (default :func:`load_model`).
        max_memory: budget in bytes for the memory plan (None: this machine's RAM, or the
            device memory on an accelerator); ``check_memory=False`` skips the check.

    Raises:
        ConfigError: before anything is loaded.
        MemoryBudgetError: (a ValueError, with the breakdown) when the estimate exceeds the
            budget.
        NonFiniteLossError: if the loss diverges.
        Preempted: on SIGTERM / SIGINT (after writing a checkpoint).
    """
    t0 = time.perf_counter()
    config = _as_config(config, overrides, out_dir)
    config.quantum.preflight()  # SDK installed, cloud API key: fail before loading anything
    out = config.output_dir
    ckpt_root = out / "checkpoints"
    if not resume and (list_checkpoints(ckpt_root) or (out / RESULTS_FILE).exists()):
        raise ValueError(
            f"{out} already holds a run (checkpoints or results.json); pass resume=True "
            "(--resume) to continue it, or choose another out_dir (--out)"
        )
    mesh = mesh_for(config.parallel)  # joins the other processes first, if any
    if check_memory:
        from qtn.experiment.memory import check_run_memory

        check_run_memory(config, max_memory)
    primary = is_primary()
    out.mkdir(parents=True, exist_ok=True)
    enable_compile_cache(config)
    if primary:
        (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

    model, tokenizer = model_loader(config) if model_loader else load_model(config, mesh)
    if hasattr(model, "remat"):
        model.remat = config.train.remat
        model.scan_layers = config.train.scan_layers
    data = build_data(config.data_config(), tokenizer)
    steps_kw = dict(
        batch_keys=PACKED_KEYS, select=_select(config), loss_chunk=config.train.loss_chunk,
        mesh=mesh,
    )
    spec = config.adapter_spec
    table = None
    state = LoopState()
    tracker = None
    if spec is not None:
        inject_spec(model, spec, rngs=nnx.Rngs(config.seed))
        tracker = setup_quantum(model, config, out, progress=config.train.progress)
        table = param_table(model, lora_rank=8)
        if primary:
            (out / "params.md").write_text(table.to_markdown() + "\n")
        optimizer, schedules = make_optimizer(config.train, model)
        train_it = data.train_iterator()
        ckpt = latest_checkpoint(ckpt_root) if resume else None
        if ckpt is not None:
            meta = load_checkpoint(ckpt, model, optimizer)
            check_resumable(meta.get("config", {}), config)
            train_it.restore(IteratorState.from_json(meta["data_state"]))
            state = LoopState.from_dict(meta)
        prev_elapsed = state.elapsed
        log = MetricsLog(
            _primary_path(out / "metrics.jsonl", primary),
            resume_step=state.step if ckpt else None,
        )
        step_fn = TrainStep(model, optimizer, **steps_kw)
        eval_step = EvalStep(model, **steps_kw)
        final = prepare_evaluation(model, tokenizer, data, eval_step, config)
        upcoming = train_it.peek((config.train.steps - state.step) * config.train.grad_accum)
        step_fn.inputs.pin(upcoming)
        val = list(islice(data.eval_iterator("val"), config.train.eval_batches))
        jobs = step_jobs("train", step_fn, upcoming)
        if config.train.eval_every:
            eval_step.inputs.pin(val)
            jobs += step_jobs("eval", eval_step, val)
        compiled = compile_all(jobs + final.compile_jobs())
        t_train = time.perf_counter()
        with surface_job_errors(model):
            state = fit(
                step_fn,
                train_it,
                lambda: train_it.state.to_json(),
                config.train,
                lr_at=lambda u: float(schedules["core"](u)),
                log=log,
                checkpoint_root=ckpt_root,
                state=state,
                evaluate=lambda step: {
                    **evaluate_loss(eval_step, val),
                    **quantum_counts(tracker),
                },
                checkpoint_meta={"config": config.to_dict()},
                step_info=(lambda: quantum_counts(tracker)) if tracker is not None else None,
            )
        if primary:
            save_adapter(model, out / "adapter", spec, base_model=config.model.path)
        train_s = time.perf_counter() - t_train
    else:
        prev_elapsed = 0.0
        log = MetricsLog(_primary_path(out / "metrics.jsonl", primary))
        eval_step = EvalStep(model, **steps_kw)
        final = prepare_evaluation(model, tokenizer, data, eval_step, config)
        compiled = compile_all(final.compile_jobs())
        train_s = 0.0

    t_eval = time.perf_counter()
    with surface_job_errors(model):
        final_metrics = final.run()
    final_metrics.update({f"eval_{k}": v for k, v in quantum_counts(tracker).items()})
    eval_s = time.perf_counter() - t_eval
    samples = final_metrics.pop("samples")
    log.write({"step": state.step, "final": True, **final_metrics})
    results = {
        "name": config.name,
        "method": spec.method if spec else "none",
        "task": data.task.name,
        "seed": config.seed,
        "trainable_params": table.trainable if table else 0,
        "lora_r8_params": table.lora if table else None,
        "ratio_to_lora_r8": table.ratio_to_lora if table else None,
        "base_params": table.base_params if table else None,
        "steps": state.step,
        "train_loss": state.train_loss(),
        **final_metrics,
        "train_tokens": state.tokens,
        "train_flops": state.train_flops if spec is not None else 0.0,
        "train_tokens_per_s": (
            state.steady_tokens / state.train_time if state.train_time > 0 else None
        ),
        "wall_time_s": prev_elapsed + (time.perf_counter() - t0),
        "compile_s": compiled.total_s,
        "train_s": train_s,
        "eval_s": eval_s,
        "compile": compiled.to_dict(),
        "quantum": quantum_record(model, config, state.counters),
        "samples": samples,
    }
    results = {k: _finite_or_none(v) for k, v in results.items()}
    if primary:
        (out / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n")
    return results


def setup_quantum(
    model: nnx.Module,
    config: RunConfig,
    run_dir: str | os.PathLike | None = None,
    *,
    progress: bool = False,
) -> Tracker | None:
    """Give the model's circuit layers the run's executor (``config.quantum``) and a tracker;
    raises ValueError (naming the module) before training if the executor cannot run a
    layer's circuits, or if a non-exact executor is asked for an adapter without circuits.
    SDK executors keep their result cache in ``run_dir`` (None: in memory) and show their
    jobs when ``progress``. Returns the tracker (None without circuit layers)."""
    q = config.quantum
    if not circuit_layers(model):
        if q.executor != "exact":
            raise ValueError(
                f"quantum.executor is {q.executor!r} but the adapter "
                f"({config.adapter_spec.method if config.adapter_spec else 'none'}) has no "
                "circuits to execute"
            )
        return None
    # distinct counts move every call's angles to the host: worth it where a QPU would run
    tracker = Tracker(job_size=q.job_size, distinct=q.executor != "exact") if q.track else None
    configure_quantum(model, make_runner(q, tracker, run_dir, progress=progress), seed=q.seed)
    return tracker


@contextlib.contextmanager
def surface_job_errors(model: nnx.Module):
    """Re-raise a quantum job failure as its :class:`~qtn.quantum.jobs.JobError` (job id and
    error) rather than the runtime error JAX wraps host-callback errors in."""
    try:
        yield
    except Exception as err:
        layers = circuit_layers(model)
        jobs = getattr(layers[0][1].runner.executor, "jobs", None) if layers else None
        # the runtime error JAX raises for a failed host callback carries the job error's text
        # (several jobs in flight may fail: find the one this error is about)
        for failure in getattr(jobs, "failures", []):
            if failure is not err and str(failure) in str(err):
                raise failure from err
        raise


def quantum_counts(tracker: Tracker | None) -> dict[str, int]:
    """The tracker's counts since the last call, keys prefixed ``quantum_`` ({} without)."""
    return {f"quantum_{k}": v for k, v in tracker.take().items()} if tracker else {}


def quantum_record(model: nnx.Module, config: RunConfig, counters: dict) -> dict | None:
    """What ran the circuits and what it cost (None for a run without circuit layers)."""
    if not circuit_layers(model):
        return None
    runner = circuit_layers(model)[0][1].runner
    return {**runner.describe(), "train_totals": dict(counters)}


def _primary_path(path: Path, primary: bool) -> Path:
    """``path`` in process 0; the null device in the others (one writer per file)."""
    return path if primary else Path(os.devnull)


# config keys that may change between a run and its resumption (they do not affect results)
RESUME_FREE_SECTIONS: tuple[str, ...] = ("eval.",)
"""Config sections that act only after the last step (the final evaluation): a finished
training resumed under another ``eval`` section is evaluated anew (``qtn sweep`` reuses a
selection run's training this way, :mod:`qtn.sweep.reuse`)."""

RESUME_FREE = frozenset(
    {
        "name",  # a label: a run resumed or seeded under another name trains the same
        "out_dir",
        "train.progress",
        "train.log_every",
        "train.checkpoint_every",
        "train.keep_checkpoints",
        "train.eval_every",
        "train.eval_batches",
        "train.compile_cache_dir",
        "quantum.track",
        "quantum.job_size",
        "quantum.shot_time_s",
        "quantum.job_overhead_s",
        "quantum.api_key_file",
        "quantum.max_in_flight",
        "quantum.max_attempts",
        "quantum.retry_backoff_s",
        "quantum.job_timeout_s",
        "quantum.sdk_threads",
        "train.remat",  # memory only: the same math, recomputed
        "train.scan_layers",  # the same math, compiled as one scan over the layers
        "parallel.data",  # checkpoints hold whole arrays: any device count can resume
        "parallel.fsdp",
        "parallel.distributed",
    }
)


def check_resumable(saved: Mapping[str, Any], config: RunConfig) -> None:
    """Raise ValueError naming the config keys that differ from the checkpointed run's (other
    than :data:`RESUME_FREE` ones): resuming under another config would not reproduce it."""
    old, new = _flatten(saved), _flatten(config.to_dict())
    defaults = _flatten(RunConfig().to_dict())
    diff = sorted(
        k
        for k in old.keys() | new.keys()
        if k not in RESUME_FREE
        and not k.startswith(RESUME_FREE_SECTIONS)
        and old.get(k) != new.get(k)
        and not (k not in old and new.get(k) == defaults.get(k))  # a key added since, at default
    )
    if diff:
        details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
        raise ValueError(f"cannot resume: the config changed since the checkpoint ({details})")


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and k != "data" and k != "adapter":
            out.update(_flatten(v, key + "."))
        else:
            out[key] = json.loads(json.dumps(v))  # tuples vs lists compare equal
    return out


def enable_compile_cache(config: RunConfig) -> Path | None:
    """Point JAX's persistent compilation cache at ``train.compile_cache_dir`` (``default``:
    ``<qtn cache dir>/xla``, next to the converted model; null: leave JAX's setting alone), so
    a second run of the same config loads its programs instead of compiling them."""
    path = config.train.compile_cache_dir
    if not path:
        return None
    if path == DEFAULT_CACHE:
        from qtn.hf.assets import resolve_cache_dir

        path = str(resolve_cache_dir() / "xla")
    return enable_persistent_cache(path)


def prepare_evaluation(
    model: nnx.Module, tokenizer: Any, data: Any, eval_step: EvalStep, config: RunConfig
) -> FinalEvaluation:
    """The final evaluation of ``config.eval.split`` (loss / perplexity, the task metric unless
    disabled, the split's ``majority_baseline`` and the first scored ``samples``), with its
    batches built so its programs compile before training (``.compile_jobs()``); ``.run()``
    evaluates the model's current weights."""
    e = config.eval
    return FinalEvaluation(
        model, tokenizer, data, eval_step, e.split, metric=e.metric,
        max_new_tokens=e.max_new_tokens, batch_size=e.generate_batch_size,
    )


def final_evaluation(
    model: nnx.Module, tokenizer: Any, data: Any, eval_step: EvalStep, config: RunConfig
) -> dict[str, Any]:
    """:func:`prepare_evaluation` then its programs compiled (in parallel) and run."""
    final = prepare_evaluation(model, tokenizer, data, eval_step, config)
    compile_all(final.compile_jobs())
    return final.run()


def evaluate_run(
    config: RunConfig | Mapping[str, Any] | str | os.PathLike,
    *,
    adapter: str | os.PathLike | None = None,
    overrides: tuple[str, ...] = (),
    model_loader: ModelLoader | None = None,
) -> dict[str, Any]:
    """Evaluate the config's model, with a saved ``adapter`` folder loaded if given (``qtn
    eval``). Returns the :func:`final_evaluation` dict plus ``method`` and ``trainable_params``."""
    from qtn.adapters.io import load_adapter

    config = _as_config(config, overrides, None)
    config.quantum.preflight()
    enable_compile_cache(config)
    model, tokenizer = (model_loader or load_model)(config)
    data = build_data(config.data_config(), tokenizer)
    method, trainable = "none", 0
    if adapter is not None:
        spec = load_adapter(model, adapter)
        method, trainable = spec.method, param_table(model).trainable
        if circuit_layers(model):  # the run's executor; its cache is the run folder's
            setup_quantum(model, config, Path(adapter).parent)
    eval_step = EvalStep(
        model, batch_keys=PACKED_KEYS, select=_select(config), loss_chunk=config.train.loss_chunk
    )
    with surface_job_errors(model):
        final = final_evaluation(model, tokenizer, data, eval_step, config)
    return {
        "method": method,
        "adapter": str(adapter) if adapter is not None else None,
        "trainable_params": trainable,
        **final,
    }


def _select(config: RunConfig) -> bool | None:
    """None = gather logits at loss positions when the model supports it; False = never."""
    return None if config.train.select_loss_positions else False


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN: a non-finite float (e.g. the train loss of a run without training)
    is written as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _as_config(
    config: RunConfig | Mapping[str, Any] | str | os.PathLike,
    overrides: tuple[str, ...],
    out_dir: str | os.PathLike | None,
) -> RunConfig:
    updates = {"out_dir": str(out_dir)} if out_dir is not None else {}
    if isinstance(config, RunConfig):
        if overrides:
            raise ValueError("overrides apply to a YAML path or dict config, not a RunConfig")
        return RunConfig.from_dict({**config.to_dict(), **updates}) if updates else config
    if isinstance(config, Mapping):
        d = json.loads(json.dumps(config))
        for item in overrides:
            set_dotted(d, *parse_override(item))
        for k, v in updates.items():
            set_dotted(d, k, v)
        return RunConfig.from_dict(d)
    return load_config(Path(config), overrides, **updates)
