"""The task metric of a run: accuracy by label log-likelihood, perplexity, or exact match (each
task's own scorer), with a few samples of what was scored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flax import nnx

from qtn.experiment.samples import choice_samples, generation_samples
from qtn.train.evaluate import choice_scores, evaluate_loss, exact_match_accuracy
from qtn.train.steps import EvalStep


@dataclass(frozen=True)
class TaskMetric:
    """A task metric on one split: ``name`` (``accuracy`` / ``perplexity`` / ``exact_match``),
    ``value``, and the first scored ``samples`` (see :mod:`qtn.experiment.samples`; empty for
    perplexity)."""

    name: str
    value: float
    samples: list[dict[str, Any]] = field(default_factory=list)


def task_metric(
    model: nnx.Module,
    tokenizer: Any,
    data: Any,
    eval_step: EvalStep,
    split: str,
    *,
    max_new_tokens: int = 48,
) -> TaskMetric:
    """The metric of ``data.task`` (``data``: a ``DataPipeline``) on ``split``: ``accuracy``
    (the candidate completion with the highest log-likelihood), ``perplexity``, or
    ``exact_match`` (greedy generation with ``qtn.models.generate``, compared with the labels by
    the task's own ``task.scorer``)."""
    task = data.task
    examples = task.split(split)
    if task.metric == "choice_accuracy":
        choices, batches = data.choice_set(split)
        predicted = choices.predictions(choice_scores(eval_step, batches, len(choices.encoded)))
        value = float(np.mean(predicted == choices.gold))
        return TaskMetric(
            "accuracy", value, choice_samples(examples, predicted, task.choice_labels)
        )
    if task.metric == "perplexity":
        value = evaluate_loss(eval_step, data.eval_iterator(split))["perplexity"]
        return TaskMetric("perplexity", value)
    if task.metric == "exact_match":
        if task.scorer is None:
            raise ValueError(f"task {task.name!r} has no scorer for exact_match")
        batches, labels = data.prompt_batches(split)
        gen = greedy_generator(model, tokenizer, max_new_tokens=max_new_tokens)
        value, texts = exact_match_accuracy(gen, batches, labels, task.scorer.score)
        return TaskMetric("exact_match", value, generation_samples(examples, texts, task.scorer))
    raise ValueError(f"unknown task metric {task.metric!r}")


def greedy_generator(model: nnx.Module, tokenizer: Any, *, max_new_tokens: int):
    """``gen(batch) -> texts``: greedy continuations of the left-padded prompt rows of
    ``batch`` (``input_ids`` / ``attention_mask`` (B, T)), decoded without special tokens."""
    from qtn.models.generate import generate

    stops = sorted(set(model.config.eos_token_id) | {tokenizer.eos_token_id} - {None})
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]

    def gen(batch: dict[str, np.ndarray]) -> list[str]:
        ids, mask = np.asarray(batch["input_ids"]), np.asarray(batch["attention_mask"])
        prompts = [row[m.astype(bool)].tolist() for row, m in zip(ids, mask, strict=True)]
        view = nnx.view(model, deterministic=True, raise_if_not_found=False)
        result = generate(
            view, prompts, max_new_tokens=max_new_tokens, stop_token_ids=stops, pad_token_id=pad
        )
        return [tokenizer.decode(t, skip_special_tokens=True) for t in result.as_lists()]

    return gen
