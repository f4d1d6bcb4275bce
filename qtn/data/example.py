"""Task-level containers (text, before tokenization) and deterministic splits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qtn.data.scoring import Scorer

Metric = Literal["choice_accuracy", "perplexity", "exact_match"]
SPLITS = ("train", "val", "test")


class TaskOptionsError(ValueError):
    """A task's options (or its data) are inconsistent; ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Example:
    """One text example: the model reads ``prompt`` and is trained on ``completion``.

    ``label`` is the gold answer a metric compares against (``"positive"``, ``"28"``); for
    language modelling ``prompt`` is empty and ``completion`` is the text.
    """

    prompt: str
    completion: str
    label: str | None = None


@dataclass(frozen=True)
class TaskData:
    """A task's splits plus how to score it.

    Attributes:
        name: registry name (``sentiment``, ``hamlet``, ``arithmetic``, ``jsonl``).
        train, val, test: disjoint example lists, fixed by the task's seed.
        metric: ``choice_accuracy`` (compare log-likelihoods of ``choices``), ``perplexity``
            (exp of mean token NLL), or ``exact_match`` (generate, then ``scorer``).
        choices: candidate completions for ``choice_accuracy`` (same text form as
            ``Example.completion``), and their labels in ``choice_labels``.
        options: the options the task was built with (for run records).
        scorer: how ``exact_match`` compares a generation with a label (a frozen dataclass of
            :mod:`qtn.data.scoring`, e.g. ``AnswerTag()`` or ``TextMatch(...)``); required for
            ``exact_match`` tasks, None otherwise.
    """

    name: str
    train: list[Example]
    val: list[Example]
    test: list[Example]
    metric: Metric
    choices: tuple[str, ...] = ()
    choice_labels: tuple[str, ...] = ()
    options: dict[str, object] = field(default_factory=dict)
    scorer: Scorer | None = None

    def __post_init__(self) -> None:
        if self.metric == "exact_match" and self.scorer is None:
            raise ValueError(f"task {self.name!r}: an exact_match task needs a scorer")
        if len(self.choices) != len(self.choice_labels):
            raise ValueError(
                f"task {self.name!r}: {len(self.choices)} choices for "
                f"{len(self.choice_labels)} choice labels"
            )

    def split(self, name: str) -> list[Example]:
        """Examples of split ``name`` (``train``, ``val`` or ``test``)."""
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        """Number of examples per split."""
        return {s: len(self.split(s)) for s in SPLITS}

    def label_counts(self, split: str) -> dict[str, int]:
        """Examples per label in ``split``, most common first (ties by label text); labels are
        compared as the task's metric compares them (``scorer.key`` for exact match, e.g.
        case-folded). Empty for tasks without labels (perplexity) or when a label is missing."""
        examples = self.split(split)
        if self.metric == "perplexity" or any(e.label is None for e in examples):
            return {}
        key = self.scorer.key if self.scorer is not None else str
        counts = Counter(key(str(e.label).strip()) for e in examples)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def majority_baseline(self, split: str) -> float | None:
        """The best score a constant answer gets on ``split``: the share of its most common
        label (the majority-class / label-prior accuracy a method must beat to have learned
        more than the prior). None for perplexity tasks and splits without labels."""
        counts = self.label_counts(split)
        return max(counts.values()) / sum(counts.values()) if counts else None


def split_indices(
    n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Permute ``range(n)`` with ``seed`` and cut it into train/val/test index arrays.

    The cut points are ``floor(cumsum(fractions) * n)``; the pieces are disjoint and cover
    ``range(n)`` when the fractions sum to 1. Same ``(n, fractions, seed)`` -> same arrays.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
        raise ValueError(f"fractions must be 3 non-negative numbers summing to <= 1: {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    a = int(np.floor(fractions[0] * n))
    b = a + int(np.floor(fractions[1] * n))
    c = min(n, b + int(np.floor(fractions[2] * n + 1e-9)))
    if abs(sum(fractions) - 1) < 1e-9:
        c = n
    return perm[:a], perm[a:b], perm[b:c]


def take_splits(
    items: Sequence[Example],
    *,
    seed: int,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    n_train: int | None = None,
    n_eval: int | None = None,
) -> tuple[list[Example], list[Example], list[Example]]:
    """Deterministic train/val/test lists from ``items``.

    ``n_train`` caps the train split and ``n_eval`` caps val and test each; a cap takes a prefix
    of the seeded permutation, so a smaller run's splits are subsets of a larger run's.
    """
    tr, va, te = split_indices(len(items), fractions, seed=seed)
    tr = tr[:n_train] if n_train is not None else tr
    va = va[:n_eval] if n_eval is not None else va
    te = te[:n_eval] if n_eval is not None else te
    return [items[i] for i in tr], [items[i] for i in va], [items[i] for i in te]
