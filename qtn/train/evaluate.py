"""Evaluation: loss / perplexity, accuracy by label log-likelihood, exact match by greedy
generation. Works on batch iterables (``qtn.data`` batch dicts) and a compiled :class:`EvalStep`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any

import numpy as np

from qtn.train.steps import EvalStep


def evaluate_loss(
    step: EvalStep, batches: Iterable[dict[str, np.ndarray]], max_batches: int | None = None
) -> dict[str, float]:
    """Token-weighted mean NLL over the ``loss_mask`` tokens of ``batches``.

    Returns ``{"loss", "perplexity", "tokens"}`` (``loss`` nan when no token counts).
    """
    total = count = 0.0
    for batch in islice(batches, max_batches):
        nll, n = step(batch)
        total += float(nll.sum())
        count += float(n.sum())
    loss = total / count if count else float("nan")
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "tokens": int(count)}


def choice_scores(
    step: EvalStep, batches: Iterable[dict[str, np.ndarray]], n_rows: int
) -> np.ndarray:
    """Summed log-likelihood of each encoded (example, candidate) row: (n_rows,).

    Rows are located by ``example_index`` (filler rows, index -1, are skipped)."""
    scores = np.full((n_rows,), np.nan)
    for batch in batches:
        nll, _ = step(batch)
        idx = np.asarray(batch["example_index"])
        real = idx >= 0
        scores[idx[real]] = -nll[real]
    if np.isnan(scores).any():
        raise ValueError(f"{int(np.isnan(scores).sum())} candidate rows were never scored")
    return scores


def choice_accuracy(step: EvalStep, choice_set: Any, batches: Iterable[dict]) -> float:
    """Accuracy of picking the candidate completion with the highest log-likelihood
    (``choice_set``: a ``qtn.data.encoding.ChoiceSet``; ``batches`` iterate its rows)."""
    return float(choice_set.accuracy(choice_scores(step, batches, len(choice_set.encoded))))


def exact_match_accuracy(
    generate: Callable[[dict[str, np.ndarray]], list[str]],
    prompt_batches: Sequence[dict[str, np.ndarray]],
    labels: Sequence[str | None],
    score: Callable[[list[str], list[str | None]], float],
) -> tuple[float, list[str]]:
    """Greedy-generate a completion for every prompt row and score them against ``labels``.

    ``generate(batch) -> texts`` returns one text per batch row (filler rows included: they
    are dropped here by ``example_index``); ``score(texts, labels)`` is the task's metric
    (e.g. ``qtn.data.exact_match``). Returns ``(accuracy, texts in label order)``.
    """
    texts: list[str | None] = [None] * len(labels)
    for batch in prompt_batches:
        outs = generate(batch)
        for row, i in enumerate(np.asarray(batch["example_index"])):
            if i >= 0:
                texts[int(i)] = outs[row]
    missing = sum(t is None for t in texts)
    if missing:
        raise ValueError(f"{missing} prompts were never generated for")
    done = [t for t in texts if t is not None]
    return float(score(done, list(labels))), done
