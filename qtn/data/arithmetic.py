"""Generated arithmetic SFT: multi-step sums/products with worked steps and a final answer.

Example (prompt | completion)::

    "Compute 12+7*3-5.\\n" | "7*3=21. 12+21=33. 33-5=28. Answer: 28"

Products are evaluated first, then sums/differences left to right (usual precedence). The
metric is exact match of the integer after the last ``Answer:`` in generated text (the task's
scorer, :class:`AnswerTag`: strict, a generation without ``Answer: <int>`` is wrong).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qtn.data.example import Example, TaskData
from qtn.data.scoring import match_rate

ANSWER_RE = re.compile(r"Answer:\s*(-?\d+)")


def _worked_solution(numbers: list[int], ops: list[str]) -> tuple[list[str], int]:
    """Steps (``"7*3=21"``) and the value of ``n0 op0 n1 op1 ...`` with ``*`` first."""
    steps: list[str] = []
    terms, term_ops = [numbers[0]], []
    for op, x in zip(ops, numbers[1:], strict=True):
        if op == "*":
            steps.append(f"{terms[-1]}*{x}={terms[-1] * x}")
            terms[-1] *= x
        else:
            terms.append(x)
            term_ops.append(op)
    value = terms[0]
    for op, x in zip(term_ops, terms[1:], strict=True):
        new = value + x if op == "+" else value - x
        steps.append(f"{value}{op}{x}={new}")
        value = new
    return steps, value


def make_problem(rng: np.random.Generator, *, min_terms: int, max_terms: int, max_value: int):
    """One random problem: ``(expression, steps, answer)``."""
    n = int(rng.integers(min_terms, max_terms + 1))
    numbers = [int(v) for v in rng.integers(1, max_value + 1, size=n)]
    ops = [str(o) for o in rng.choice(np.array(["+", "-", "*"]), size=n - 1)]
    tail = "".join(o + str(x) for o, x in zip(ops, numbers[1:], strict=True))
    expression = str(numbers[0]) + tail
    steps, answer = _worked_solution(numbers, ops)
    return expression, steps, answer


def arithmetic_example(expression: str, steps: list[str], answer: int) -> Example:
    """Prompt ``"Compute <expr>.\\n"``, completion ``"<step>. <step>. Answer: <n>"``."""
    worked = "".join(f"{s}. " for s in steps)
    return Example(
        prompt=f"Compute {expression}.\n",
        completion=f"{worked}Answer: {answer}",
        label=str(answer),
    )


def parse_answer(text: str) -> str | None:
    """The integer after the last ``Answer:`` in ``text`` (as a string), or None."""
    found = ANSWER_RE.findall(text)
    return found[-1] if found else None


@dataclass(frozen=True)
class AnswerTag:
    """The arithmetic task's scorer: the answer is the integer after the last ``Answer:``."""

    def extract(self, text: str) -> str | None:
        """:func:`parse_answer` of ``text``."""
        return parse_answer(text)

    def key(self, answer: str) -> str:
        """Integers compare as written (``"28"``; the label is the same string form)."""
        return answer

    def score(self, generated: Sequence[str], labels: Sequence[str | None]) -> float:
        """Fraction of generations whose parsed answer equals the label (no answer = wrong)."""
        return match_rate(self, generated, labels)


def exact_match(generated: list[str], labels: list[str | None]) -> float:
    """Fraction of generations whose parsed answer equals the label (strict: no answer = wrong)."""
    return AnswerTag().score(generated, labels)


def arithmetic_task(
    *,
    seed: int = 0,
    n_train: int = 2000,
    n_eval: int = 200,
    min_terms: int = 2,
    max_terms: int = 4,
    max_value: int = 20,
) -> TaskData:
    """Arithmetic SFT; train/val/test are disjoint by expression, all fixed by ``seed``.

    Args:
        n_train: train problems.
        n_eval: val and test problems each.
        min_terms: fewest operands per expression.
        max_terms: most operands per expression.
        max_value: operands are in 1..max_value.
    """
    if not 2 <= min_terms <= max_terms:
        raise ValueError(f"need 2 <= min_terms <= max_terms, got {min_terms}, {max_terms}")
    wanted = n_train + 2 * n_eval
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    examples: list[Example] = []
    attempts = 0
    while len(examples) < wanted:
        attempts += 1
        if attempts > 50 * wanted + 1000:
            raise ValueError(
                f"could only generate {len(examples)} distinct problems of {wanted} requested; "
                "raise max_value or max_terms"
            )
        expression, steps, answer = make_problem(
            rng, min_terms=min_terms, max_terms=max_terms, max_value=max_value
        )
        if expression not in seen:
            seen.add(expression)
            examples.append(arithmetic_example(expression, steps, answer))
    return TaskData(
        name="arithmetic",
        train=examples[:n_train],
        val=examples[n_train : n_train + n_eval],
        test=examples[n_train + n_eval :],
        metric="exact_match",
        scorer=AnswerTag(),
        options={
            "seed": seed,
            "n_train": n_train,
            "n_eval": n_eval,
            "min_terms": min_terms,
            "max_terms": max_terms,
            "max_value": max_value,
        },
    )
