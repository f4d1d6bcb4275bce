"""Eval samples: a few (prompt, output, label) rows next to a task metric, so a scoring mismatch
shows at a glance. ``results.json`` keeps the first :data:`SAMPLES_KEPT` as ``samples``; the
CLI prints a few of them with :func:`format_samples`.

Row forms (prompts and generations shortened to :data:`KEPT_CHARS` characters, middle elided)::

    exact match:     {"prompt", "generated", "answer", "label", "correct"}
    choice accuracy: {"prompt", "chosen", "label", "correct"}

``answer`` is what the task's scorer extracted from the generation (None: no answer found);
``correct`` is whether the metric counted the row as right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qtn.data.example import Example
from qtn.data.scoring import Scorer, matches

SAMPLES_KEPT = 20
KEPT_CHARS = 400
PRINTED_CHARS = 90
ELLIPSIS = " … "


def shorten(text: str, width: int) -> str:
    """``text`` if it has at most ``width`` characters, else its head and tail joined by
    :data:`ELLIPSIS` (``width`` characters in all; the tail is kept longer: it holds the
    answer cue of a prompt)."""
    if len(text) <= width:
        return text
    room = max(width - len(ELLIPSIS), 2)
    head = room // 3
    return text[:head] + ELLIPSIS + text[len(text) - (room - head) :]


def generation_samples(
    examples: Sequence[Example],
    generated: Sequence[str],
    scorer: Scorer,
    n: int = SAMPLES_KEPT,
) -> list[dict[str, Any]]:
    """The first ``n`` exact-match rows: ``examples[i]`` with its generation ``generated[i]``."""
    rows = []
    for ex, text in zip(examples[:n], generated[:n], strict=True):
        rows.append(
            {
                "prompt": shorten(ex.prompt, KEPT_CHARS),
                "generated": shorten(text, KEPT_CHARS),
                "answer": scorer.extract(text),
                "label": ex.label,
                "correct": matches(scorer, text, ex.label),
            }
        )
    return rows


def choice_samples(
    examples: Sequence[Example],
    predicted: Sequence[int],
    choice_labels: Sequence[str],
    n: int = SAMPLES_KEPT,
) -> list[dict[str, Any]]:
    """The first ``n`` choice-accuracy rows: the chosen label (``choice_labels[predicted[i]]``)
    next to the gold one."""
    rows = []
    for ex, k in zip(examples[:n], predicted[:n], strict=True):
        chosen = choice_labels[int(k)]
        rows.append(
            {
                "prompt": shorten(ex.prompt, KEPT_CHARS),
                "chosen": chosen,
                "label": ex.label,
                "correct": chosen == ex.label,
            }
        )
    return rows


def format_samples(samples: Sequence[Mapping[str, Any]], n: int = 5) -> str:
    """The first ``n`` rows as text, one line each: ``ok``/``--`` (counted right or not), the
    output (generated text, or the chosen label), the label, the shortened prompt."""
    if not samples or n <= 0:
        return ""
    shown = samples[:n]
    lines = [f"samples ({len(shown)} of {len(samples)} kept; ok = counted as correct):"]
    for i, row in enumerate(shown, start=1):
        mark = "ok" if row.get("correct") else "--"
        if "generated" in row:
            output = f"generated {shorten(str(row['generated']), PRINTED_CHARS)!r}"
            output += f" -> answer {row.get('answer')!r}"
        else:
            output = f"chose {row.get('chosen')!r}"
        prompt = shorten(str(row.get("prompt", "")), PRINTED_CHARS)
        lines.append(f"  {i:2d} {mark} {output} | label {row.get('label')!r} | prompt {prompt!r}")
    return "\n".join(lines)
