"""The task metric of a run: accuracy by label log-likelihood, perplexity, or exact match."""

from __future__ import annotations

from typing import Any

import numpy as np
from flax import nnx

from qtn.data import exact_match
from qtn.train.evaluate import choice_accuracy, evaluate_loss, exact_match_accuracy
from qtn.train.steps import EvalStep


def task_metric(
    model: nnx.Module,
    tokenizer: Any,
    data: Any,
    eval_step: EvalStep,
    split: str,
    *,
    max_new_tokens: int = 48,
) -> tuple[str, float]:
    """``(metric name, value)`` on ``split`` for the task of ``data`` (a ``DataPipeline``):
    ``accuracy`` (highest label log-likelihood), ``perplexity`` or ``exact_match`` (greedy
    generation with ``qtn.models.generate``, answers parsed by ``qtn.data.exact_match``)."""
    metric = data.task.metric
    if metric == "choice_accuracy":
        choices, batches = data.choice_set(split)
        return "accuracy", choice_accuracy(eval_step, choices, batches)
    if metric == "perplexity":
        return "perplexity", evaluate_loss(eval_step, data.eval_iterator(split))["perplexity"]
    if metric == "exact_match":
        batches, labels = data.prompt_batches(split)
        gen = greedy_generator(model, tokenizer, max_new_tokens=max_new_tokens)
        value, _ = exact_match_accuracy(gen, batches, labels, exact_match)
        return "exact_match", value
    raise ValueError(f"unknown task metric {metric!r}")


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
