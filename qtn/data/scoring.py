"""How a task compares generated text with its labels (exact match): each task owns its scorer.

A scorer is a small frozen dataclass stored on :class:`qtn.data.TaskData` (``task.scorer``):
plain fields only, so a task stays comparable and its options stay serialisable. It offers

- ``extract(text) -> str | None``: the answer a generation (or a completion) carries;
- ``key(answer) -> str``: the form two answers are compared in (e.g. case-folded);
- ``matches(generated, label) -> bool`` and ``score(generated, labels) -> float``.

Two scorers exist: :class:`qtn.data.arithmetic.AnswerTag` (the integer after the last
``Answer:``, strict) and :class:`TextMatch` (user JSONL), whose normalisation is:

1. cut the text at the first end-of-turn marker (:data:`END_OF_TURN_MARKERS`; the generator
   already stops at the model's end-of-turn token, this catches markers decoded as text);
2. with ``answer_regex``: the first match anywhere in what is left (its first capture group if
   the pattern has one, else the whole match); no match = no answer (scored wrong);
   without it: the text up to the first newline (leading whitespace skipped first);
3. strip surrounding whitespace; with ``case_sensitive=False`` answers compare case-folded.

A JSONL record without a ``label`` gets ``extract(completion)`` as its label, so a generation
that reproduces the completion always scores 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

END_OF_TURN_MARKERS: tuple[str, ...] = ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "</s>")
"""End-of-turn strings of common chat templates (ChatML / SmolLM2, Llama 3, GPT-2, Llama 2)."""


class Scorer(Protocol):
    """What the exact-match metric needs from a task's scorer."""

    def extract(self, text: str) -> str | None: ...

    def key(self, answer: str) -> str: ...


def matches(scorer: Scorer, generated: str, label: str | None) -> bool:
    """True when ``generated`` carries an answer equal to ``label`` under ``scorer.key``."""
    if label is None:
        return False
    answer = scorer.extract(generated)
    return answer is not None and scorer.key(answer) == scorer.key(label.strip())


def match_rate(scorer: Scorer, generated: Sequence[str], labels: Sequence[str | None]) -> float:
    """Fraction of ``generated[i]`` matching ``labels[i]`` (nan for no labels; no answer or a
    None label = wrong)."""
    if len(generated) != len(labels):
        raise ValueError(f"{len(generated)} generations for {len(labels)} labels")
    if not labels:
        return float("nan")
    hits = sum(matches(scorer, g, lab) for g, lab in zip(generated, labels, strict=True))
    return hits / len(labels)


def cut_at_end_of_turn(text: str) -> str:
    """``text`` up to the first :data:`END_OF_TURN_MARKERS` string (all of it if none)."""
    end = min((i for m in END_OF_TURN_MARKERS if (i := text.find(m)) >= 0), default=len(text))
    return text[:end]


@dataclass(frozen=True)
class TextMatch:
    """Exact match of text answers (the ``jsonl`` task): see the module docstring.

    Attributes:
        case_sensitive: False compares ``str.casefold`` forms (``"Yes"`` == ``"yes"``).
        answer_regex: a Python regex with at most one capture group, searched in the
            generation (e.g. ``"Answer:\\s*(\\w+)"``); None = the first line is the answer.
    """

    case_sensitive: bool = True
    answer_regex: str | None = None

    def __post_init__(self) -> None:
        problems = text_match_problems(self.case_sensitive, self.answer_regex)
        if problems:
            raise ValueError("; ".join(problems))

    def extract(self, text: str) -> str | None:
        """The answer in ``text`` (normalisation steps 1–3 without case folding), or None."""
        text = cut_at_end_of_turn(text)
        if self.answer_regex is not None:
            found = re.search(self.answer_regex, text)
            if found is None:
                return None
            text = found.group(1) if found.re.groups else found.group(0)
            text = text or ""
        else:
            text = text.lstrip().split("\n", 1)[0]
        return text.strip()

    def key(self, answer: str) -> str:
        """``answer`` as compared: case-folded unless ``case_sensitive``."""
        return answer if self.case_sensitive else answer.casefold()

    def score(self, generated: Sequence[str], labels: Sequence[str | None]) -> float:
        """Exact-match rate of ``generated`` against ``labels`` (see :func:`match_rate`)."""
        return match_rate(self, generated, labels)


def text_match_problems(case_sensitive: object, answer_regex: object) -> list[str]:
    """Every problem with :class:`TextMatch` options (empty list = valid)."""
    problems = []
    if not isinstance(case_sensitive, bool):
        problems.append(f"case_sensitive must be true or false, got {case_sensitive!r}")
    if answer_regex is not None:
        if not isinstance(answer_regex, str):
            problems.append(f"answer_regex must be a string, got {answer_regex!r}")
            return problems
        try:
            groups = re.compile(answer_regex).groups
        except re.error as err:
            problems.append(f"answer_regex {answer_regex!r} is not a valid regex ({err})")
            return problems
        if groups > 1:
            problems.append(
                f"answer_regex {answer_regex!r} has {groups} capture groups; expected at most 1 "
                "(use (?:...) for the others)"
            )
    return problems
