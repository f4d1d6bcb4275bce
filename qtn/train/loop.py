"""The training loop: micro-batches -> jitted step, logging, periodic eval, checkpoints, NaN guard.

Everything the loop needs to continue exactly after a restart lives in :class:`LoopState`
(saved in each checkpoint's JSON) plus the arrays and the data iterator position.

SIGTERM / SIGINT (:mod:`qtn.train.preemption`): the step in progress finishes, a checkpoint is
written and :class:`~qtn.train.preemption.Preempted` is raised. With several processes only
process 0 writes checkpoints, and a stop request seen by any process stops all of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

from qtn.train.checkpoint import checkpoint_dir, latest_checkpoint, save_checkpoint
from qtn.train.config import TrainConfig
from qtn.train.metrics import MetricsLog, progress_bar
from qtn.train.preemption import Preempted, PreemptionGuard
from qtn.train.steps import TrainStep


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/inf loss or gradient; the last good checkpoint is kept."""


@dataclass
class LoopState:
    """Counters carried across restarts.

    ``step``: optimizer steps done; ``losses``: mean train loss of each optimizer step;
    ``tokens``: real (non-pad) tokens consumed; ``train_time``: seconds spent in steady-state
    steps (compilation excluded) and ``steady_tokens`` the tokens of those steps;
    ``elapsed``: wall seconds of all finished segments of the run; ``train_flops``: XLA's
    FLOP count of all micro-steps run (forward + backward + update); ``counters``: running
    sums of the numbers ``fit``'s ``step_info`` reports per step (e.g. circuits and shots).
    """

    step: int = 0
    losses: list[float] = field(default_factory=list)
    tokens: int = 0
    steady_tokens: int = 0
    train_time: float = 0.0
    elapsed: float = 0.0
    train_flops: float = 0.0
    counters: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopState:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def train_loss(self, window: int | None = None) -> float:
        """Mean loss over the last ``window`` steps (default: the last 10 %, at least 1)."""
        if not self.losses:
            return float("nan")
        w = window or max(1, len(self.losses) // 10)
        tail = self.losses[-w:]
        return sum(tail) / len(tail)


def fit(
    step_fn: TrainStep,
    batches: Iterator[dict],
    data_state: Callable[[], str],
    cfg: TrainConfig,
    *,
    lr_at: Callable[[int], float],
    log: MetricsLog,
    checkpoint_root: str | Path | None,
    state: LoopState | None = None,
    evaluate: Callable[[int], dict[str, float]] | None = None,
    count_tokens: Callable[[dict], int] | None = None,
    checkpoint_meta: dict[str, Any] | None = None,
    step_info: Callable[[], dict[str, float]] | None = None,
) -> LoopState:
    """Run optimizer steps ``state.step + 1 .. cfg.steps``.

    Args:
        step_fn: the compiled micro-step (updates model and optimizer in place).
        batches: endless iterator of batch dicts; ``data_state()`` returns its position (JSON)
            for checkpoints, taken after the step's micro-batches were consumed.
        cfg: steps, grad_accum, log/eval/checkpoint intervals.
        lr_at: learning rate used by optimizer update ``u`` (0-based), for logging.
        log: metrics JSONL. checkpoint_root: where checkpoints go (None: none are written).
        evaluate: ``evaluate(step) -> metrics`` called every ``eval_every`` steps.
        count_tokens: real tokens of a batch (default: :func:`real_tokens`).
        checkpoint_meta: extra JSON saved in every checkpoint (e.g. the run config).
        step_info: called after every optimizer step; its numbers are logged with the step
            and summed into ``state.counters`` (e.g. a quantum tracker's circuit counts).

    Raises:
        NonFiniteLossError: on a NaN/inf loss or gradient norm, before anything of that step
            is checkpointed (the newest checkpoint on disk is the last good one).
        Preempted: SIGTERM / SIGINT arrived; raised after the step in progress, once its
            checkpoint is written (``state`` holds the counters of that step).
    """
    state = state or LoopState()
    count_tokens = count_tokens or real_tokens
    t_start = time.perf_counter()
    bar = progress_bar(cfg.steps, state.step, cfg.progress)
    with PreemptionGuard() as guard:
        try:
            while state.step < cfg.steps:
                t0 = time.perf_counter()
                traces_before = step_fn.traces
                losses, tokens, flops, out = [], 0, 0.0, {}
                for _ in range(cfg.grad_accum):
                    batch = next(batches)
                    out = step_fn(batch)
                    losses.append(out["loss"])
                    tokens += count_tokens(batch)
                    flops += step_fn.step_flops(batch)
                loss = float(sum(float(x) for x in losses) / len(losses))
                grad_norm = float(out["grad_norm"])
                dt = time.perf_counter() - t0
                step = state.step + 1
                if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                    last = latest_checkpoint(checkpoint_root) if checkpoint_root else None
                    raise NonFiniteLossError(
                        f"non-finite training loss at step {step} (loss={loss}, "
                        f"grad_norm={grad_norm}); stopped. Last good checkpoint: {last or 'none'}. "
                        "Lower train.lr, raise train.warmup_steps or check the data."
                    )
                info = step_info() if step_info is not None else {}
                for k, v in info.items():
                    state.counters[k] = state.counters.get(k, 0) + v
                state.step, state.tokens = step, state.tokens + tokens
                state.train_flops += flops
                state.losses.append(loss)
                if step_fn.traces == traces_before:
                    state.train_time += dt
                    state.steady_tokens += tokens
                tok_s = tokens / dt if dt > 0 else float("nan")
                if step % cfg.log_every == 0 or step == cfg.steps:
                    log.write(
                        {
                            "step": step,
                            "loss": loss,
                            "lr": float(lr_at(step - 1)),
                            "grad_norm": grad_norm,
                            "tokens_per_s": tok_s,
                            "tokens": state.tokens,
                            "step_time_s": dt,
                            "compiled": step_fn.traces != traces_before,
                            **info,
                        }
                    )
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{tok_s:.0f}")
                if evaluate is not None and cfg.eval_every and step % cfg.eval_every == 0:
                    log.write({"step": step, **{f"eval_{k}": v for k, v in evaluate(step).items()}})
                if (
                    checkpoint_root is not None
                    and cfg.checkpoint_every
                    and (step % cfg.checkpoint_every == 0 or step == cfg.steps)
                ):
                    meta = {**(checkpoint_meta or {}), "data_state": data_state()}
                    _checkpoint(step_fn, checkpoint_root, state, meta, cfg, t_start)
                if _stop_requested(guard) and state.step < cfg.steps:
                    saved = None
                    if checkpoint_root is not None:
                        saved = checkpoint_dir(checkpoint_root, step)
                        if not saved.is_dir():
                            meta = {**(checkpoint_meta or {}), "data_state": data_state()}
                            saved = _checkpoint(step_fn, checkpoint_root, state, meta, cfg, t_start)
                    state.elapsed += time.perf_counter() - t_start
                    raise Preempted(guard.requested or "signal", step, saved)
        finally:
            bar.close()
    state.elapsed += time.perf_counter() - t_start
    return state


def _stop_requested(guard: PreemptionGuard) -> bool:
    """Whether any process received a stop signal (all processes agree)."""
    stop = guard.requested is not None
    if jax.process_count() == 1:
        return stop
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray([int(stop)]))))


def real_tokens(batch: dict) -> int:
    """Non-pad tokens of a batch, filler rows (``example_index == -1``) excluded."""
    mask = np.asarray(batch["attention_mask"])
    if "example_index" in batch:
        mask = mask * (np.asarray(batch["example_index"]) >= 0)[:, None]
    return int(mask.sum())


def _checkpoint(
    step_fn: TrainStep,
    root: str | Path,
    state: LoopState,
    extra: dict[str, Any],
    cfg: TrainConfig,
    t_start: float,
) -> Path:
    meta = {**extra, **state.to_dict()}
    meta["elapsed"] = state.elapsed + (time.perf_counter() - t_start)
    if jax.process_index() != 0:  # process 0 writes; the others hold the same replicas
        return checkpoint_dir(root, state.step)
    return save_checkpoint(
        root, state.step, step_fn.model, step_fn.optimizer, meta, keep=cfg.keep_checkpoints
    )
