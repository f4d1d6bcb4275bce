"""The end-of-run evaluation of a split: loss / perplexity, the task metric (accuracy by label
log-likelihood, perplexity, or exact match by each task's own scorer), the majority baseline and
a few scored samples.

:class:`FinalEvaluation` is built before training: its batches are made and
:meth:`FinalEvaluation.compile_jobs` lists every program it will run, so a run compiles them
with its training programs, up front. Prompt/completion tasks are scored from one prompt pass:
the gold completion (eval loss) and every label choice (accuracy) come from the prompt's KV
cache (:class:`qtn.models.scoring.ContinuationScorer`); exact-match tasks then generate
greedily in large left-padded batches, one compiled program per prompt bucket
(:class:`qtn.models.generate.BatchGenerator`). Perplexity tasks run the eval step over the
split's windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flax import nnx

from qtn.experiment.samples import choice_samples, generation_samples
from qtn.models.generate import BatchGenerator
from qtn.models.scoring import ContinuationScorer
from qtn.train.compile import CompileJob, step_jobs
from qtn.train.evaluate import evaluate_loss, exact_match_accuracy
from qtn.train.steps import EvalStep


@dataclass(frozen=True)
class TaskMetric:
    """A task metric on one split: ``name`` (``accuracy`` / ``perplexity`` / ``exact_match``),
    ``value``, and the first scored ``samples`` (see :mod:`qtn.experiment.samples`; empty for
    perplexity)."""

    name: str
    value: float
    samples: list[dict[str, Any]] = field(default_factory=list)


class FinalEvaluation:
    """Evaluation of ``split`` (``data``: a ``qtn.data.DataPipeline``), prepared up front.

    ``metric=False`` skips the task metric (loss / perplexity only). ``batch_size``: the most
    rows per scoring / generation batch (each prompt bucket's batches balanced over its
    prompts, see :func:`qtn.data.batching.balanced_rows`).
    ``run() -> dict`` gives ``eval_split``, ``eval_loss``, ``eval_perplexity``, ``eval_tokens``,
    ``metric_name``, ``metric``, ``majority_baseline`` and ``samples`` (last).
    """

    def __init__(
        self,
        model: nnx.Module,
        tokenizer: Any,
        data: Any,
        eval_step: EvalStep,
        split: str,
        *,
        metric: bool = True,
        max_new_tokens: int = 48,
        batch_size: int = 64,
    ):
        task = data.task
        self.data, self.split, self.eval_step, self.tokenizer = data, split, eval_step, tokenizer
        self.task_metric = task.metric if metric else None
        self.examples = task.split(split)
        self.loss_batches: list[dict[str, np.ndarray]] = []
        self.scored: list[dict[str, np.ndarray]] = []
        self.scorer: ContinuationScorer | None = None
        self.generator: BatchGenerator | None = None
        if task.metric == "perplexity" or data.mode == "stream":
            self.loss_batches = list(data.eval_iterator(split))
        else:
            with_choices = self.task_metric == "choice_accuracy"
            self.continuations, self.scored = data.continuation_set(
                split, batch_size, with_choices=with_choices, balance=True
            )
            self.scorer = ContinuationScorer(model)
        if self.task_metric == "exact_match":
            if task.scorer is None:
                raise ValueError(f"task {task.name!r} has no scorer for exact_match")
            self.prompts, self.labels = data.prompt_batches(
                split, batch_size=batch_size, balance=True
            )
            stops = sorted(set(model.config.eos_token_id) | {tokenizer.eos_token_id} - {None})
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
            self.generator = BatchGenerator(
                model, max_new_tokens=max_new_tokens, stop_token_ids=stops, pad_token_id=pad
            )

    def compile_jobs(self) -> list[CompileJob]:
        """One job per distinct program shape this evaluation will run."""
        self.eval_step.inputs.pin(self.loss_batches)
        loss_jobs = step_jobs("eval", self.eval_step, self.loss_batches)
        jobs: dict[tuple, CompileJob] = {("eval", i): job for i, job in enumerate(loss_jobs)}
        scorer = self.scorer
        for batch in self.scored:
            assert scorer is not None
            shapes = (batch["input_ids"].shape, batch["cand_ids"].shape)
            if shapes in scorer.compiled_shapes:
                continue
            jobs.setdefault(
                ("score", shapes),
                CompileJob(
                    f"score {shapes[0]} x {shapes[1][1:]}",
                    lower=lambda s=shapes: scorer.lower(*s),
                    install=lambda c, s=shapes: scorer.install(*s, c),
                ),
            )
        if self.generator is not None:
            gen = self.generator
            for batch in self.prompts:
                shape = batch["input_ids"].shape
                if shape in gen.compiled_shapes:
                    continue
                jobs.setdefault(
                    ("generate", shape),
                    CompileJob(
                        f"generate {shape}",
                        lower=lambda s=shape: gen.lower(s),
                        install=lambda c, s=shape: gen.install(s, c),
                    ),
                )
        return list(jobs.values())

    def run(self) -> dict[str, Any]:
        """Run the evaluation with the model's current weights."""
        metric: TaskMetric | None = None
        if self.scorer is None:
            loss = evaluate_loss(self.eval_step, self.loss_batches)
            if self.task_metric == "perplexity":
                metric = TaskMetric("perplexity", loss["perplexity"])
        else:
            nll = self._score()
            counts = np.asarray([len(c[0]) for c in self.continuations.candidates], np.float64)
            total = float(counts.sum())
            value = float(nll[:, 0].sum() / total) if total else float("nan")
            loss = {
                "loss": value,
                "perplexity": math.exp(min(value, 700.0)),
                "tokens": int(total),
            }
            if self.task_metric == "choice_accuracy":
                predicted = np.argmax(-nll[:, 1:], axis=1)
                gold = self.continuations.gold_choice
                task = self.data.task
                metric = TaskMetric(
                    "accuracy",
                    float(np.mean(predicted == gold)),
                    choice_samples(self.examples, predicted, task.choice_labels),
                )
        if self.task_metric == "exact_match":
            metric = self._exact_match()
        return {
            "eval_split": self.split,
            "eval_loss": loss["loss"],
            "eval_perplexity": loss["perplexity"],
            "eval_tokens": loss["tokens"],
            "metric_name": metric.name if metric else None,
            "metric": metric.value if metric else None,
            "majority_baseline": self.data.task.majority_baseline(self.split),
            "samples": metric.samples if metric else [],
        }

    def _score(self) -> np.ndarray:
        """Summed NLL (n_examples, C) of every candidate of every example."""
        assert self.scorer is not None
        n, C = len(self.continuations), len(self.continuations.candidates[0])
        out = np.full((n, C), np.nan)
        for b in self.scored:
            nll = self.scorer(b["input_ids"], b["attention_mask"], b["cand_ids"], b["cand_mask"])
            rows = b["example_index"] >= 0
            out[b["example_index"][rows]] = nll[rows]
        if np.isnan(out).any():
            raise ValueError(f"{int(np.isnan(out).any(axis=1).sum())} examples were not scored")
        return out

    def _exact_match(self) -> TaskMetric:
        assert self.generator is not None
        task, gen, tok = self.data.task, self.generator, self.tokenizer

        def texts(batch: dict[str, np.ndarray]) -> list[str]:
            result = gen(batch["input_ids"], batch["attention_mask"])
            return [tok.decode(t, skip_special_tokens=True) for t in result.as_lists()]

        value, done = exact_match_accuracy(texts, self.prompts, self.labels, task.scorer.score)
        samples = generation_samples(self.examples, done, task.scorer)
        return TaskMetric("exact_match", value, samples)
