"""User data: JSONL files with one ``{"prompt": str, "completion": str}`` object per line.

An optional ``"label"`` string is kept for metrics; any other key is an error (typos such as
``"complection"`` should not pass silently). Blank lines are skipped. Every error names the file
and the 1-based line number.

The ``jsonl`` task's metrics (``metric:`` in the ``data:`` section)::

    data: {task: jsonl, train_path: train.jsonl, val_path: val.jsonl, test_path: test.jsonl,
           metric: exact_match, case_sensitive: false, answer_regex: 'Answer:\\s*(\\w+)'}

- ``exact_match`` (default): greedy generation compared with the label by
  :class:`qtn.data.scoring.TextMatch` — cut at the end of turn, the first line (or the first
  ``answer_regex`` match: its capture group, else the whole match), stripped; ``case_sensitive:
  false`` compares case-folded. A record without ``label`` is labelled with what the scorer
  extracts from its completion (``" Paris\\n"`` -> ``"Paris"``), so reproducing the completion
  scores 1.
- ``choice_accuracy``: for label sets. Each example is scored by the log-likelihood of every
  candidate completion (as the sentiment task); the prediction is the best one's label. The
  labels are the records' ``label`` (else the stripped completion); the candidates are
  ``choices:`` if given (they must cover every label in the data), else the distinct labels of
  all records read, sorted. A candidate's completion text is the completion its records carry
  (all records of a label must agree: ``" democrat"`` for ``democrat``); a choice no record
  carries gets the first record's leading whitespace + the label.
- ``perplexity``: exp of the mean token NLL of the completions.

Inconsistent options fail with :class:`qtn.data.example.TaskOptionsError` listing every
problem; run configs build this task at config time, so they fail before a model loads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from qtn.data.example import Example, TaskData, TaskOptionsError, take_splits
from qtn.data.scoring import TextMatch, text_match_problems

REQUIRED_KEYS = ("prompt", "completion")
OPTIONAL_KEYS = ("label",)
METRICS = ("exact_match", "choice_accuracy", "perplexity")


class JsonlError(ValueError):
    """A malformed record in a user JSONL file; the message starts with ``path:line:``."""


def read_jsonl(path: str | Path) -> list[Example]:
    """Examples from a JSONL file; raises :class:`JsonlError` naming ``file:line`` on bad input."""
    path = Path(path)
    if not path.is_file():
        raise JsonlError(f"{path}: no such file")
    out: list[Example] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            out.append(_parse_record(line, f"{path}:{lineno}"))
    if not out:
        raise JsonlError(f"{path}: no records")
    return out


def _parse_record(line: str, where: str) -> Example:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise JsonlError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(record, dict):
        raise JsonlError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise JsonlError(f"{where}: missing key(s) {missing}; expected {list(REQUIRED_KEYS)}")
    unknown = sorted(set(record) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise JsonlError(
            f"{where}: unknown key(s) {unknown}; allowed {list(REQUIRED_KEYS + OPTIONAL_KEYS)}"
        )
    for key in REQUIRED_KEYS + OPTIONAL_KEYS:
        if key in record and not isinstance(record[key], str):
            raise JsonlError(f"{where}: {key!r} must be a string, got {type(record[key]).__name__}")
    if not record["completion"]:
        raise JsonlError(f"{where}: 'completion' is empty (nothing to train on)")
    return Example(record["prompt"], record["completion"], record.get("label"))


def jsonl_task(
    *,
    path: str | None = None,
    train_path: str | None = None,
    val_path: str | None = None,
    test_path: str | None = None,
    seed: int = 0,
    n_train: int | None = None,
    n_eval: int | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    metric: str = "exact_match",
    choices: Sequence[str] | None = None,
    case_sensitive: bool = True,
    answer_regex: str | None = None,
) -> TaskData:
    """User JSONL task: either one ``path`` split by ``seed``, or explicit split files.

    With explicit files, ``train_path`` is required and missing val/test splits are empty.
    ``metric``: ``exact_match``, ``choice_accuracy`` or ``perplexity`` (module docstring);
    ``choices`` (choice_accuracy) and ``case_sensitive`` / ``answer_regex`` (exact_match).

    Raises:
        TaskOptionsError: every inconsistent option, or labels the choices do not cover.
        JsonlError: a missing file or a malformed record (``file:line``).
    """
    problems = option_problems(path, train_path, metric, choices, case_sensitive, answer_regex)
    if problems:
        raise TaskOptionsError(problems)
    if path is not None:
        records = read_jsonl(path)
        train, val, test = take_splits(
            records, seed=seed, fractions=fractions, n_train=n_train, n_eval=n_eval
        )
    else:
        files = [read_jsonl(train_path)] + [
            read_jsonl(p) if p else [] for p in (val_path, test_path)
        ]
        records = [e for f in files for e in f]
        train, val, test = files[0][:n_train], files[1][:n_eval], files[2][:n_eval]
    scorer = None
    candidates: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    if metric == "exact_match":
        scorer = TextMatch(case_sensitive=case_sensitive, answer_regex=answer_regex)
        labelled = [_labelled(e, scorer) for e in records]
        unlabelled = [e for e, lab in zip(records, labelled, strict=True) if lab.label is None]
        if unlabelled:
            raise TaskOptionsError(
                [
                    f"answer_regex {answer_regex!r} finds no answer in the completion of "
                    f"{len(unlabelled)} record(s) without a 'label' (first: "
                    f"{unlabelled[0].completion[:80]!r}); give those records a 'label' or fix "
                    "the regex"
                ]
            )
        train, val, test = ([_labelled(e, scorer) for e in s] for s in (train, val, test))
    elif metric == "choice_accuracy":
        train, val, test = ([_with_text_label(e) for e in s] for s in (train, val, test))
        candidates = choice_candidates([_with_text_label(e) for e in records], choices)
    return TaskData(
        name="jsonl",
        train=train,
        val=val,
        test=test,
        metric=metric,  # type: ignore[arg-type]
        choices=candidates[0],
        choice_labels=candidates[1],
        scorer=scorer,
        options={
            "path": path,
            "train_path": train_path,
            "val_path": val_path,
            "test_path": test_path,
            "seed": seed,
            "n_train": n_train,
            "n_eval": n_eval,
            "fractions": list(fractions),
            "metric": metric,
            "choices": list(choices) if choices is not None else None,
            "case_sensitive": case_sensitive,
            "answer_regex": answer_regex,
        },
    )


def option_problems(
    path: object,
    train_path: object,
    metric: object,
    choices: object,
    case_sensitive: object,
    answer_regex: object,
) -> list[str]:
    """Every problem with the options of :func:`jsonl_task` that needs no data to find."""
    problems = []
    if (path is None) == (train_path is None):
        problems.append("give exactly one of `path` (split by seed) or `train_path`")
    if metric not in METRICS:
        problems.append(f"jsonl metric must be one of {list(METRICS)}, got {metric!r}")
    if choices is not None:
        if metric != "choice_accuracy":
            problems.append(f"choices apply to metric 'choice_accuracy' only, not {metric!r}")
        elif isinstance(choices, str) or not all(isinstance(c, str) and c for c in choices):
            problems.append(f"choices must be a list of non-empty strings, got {choices!r}")
        elif len(set(choices)) != len(choices):
            problems.append(f"choices must be distinct, got {list(choices)}")
    if metric == "exact_match":
        problems += text_match_problems(case_sensitive, answer_regex)
    elif metric in METRICS:
        if answer_regex is not None:
            problems.append(f"answer_regex applies to metric 'exact_match' only, not {metric!r}")
        if case_sensitive is not True:
            problems.append(f"case_sensitive applies to metric 'exact_match' only, not {metric!r}")
    return problems


def choice_candidates(
    records: Sequence[Example], choices: Sequence[str] | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(candidate completions, their labels)`` for choice accuracy over labelled ``records``.

    Labels: ``choices`` (checked to cover every record's label) or the records' distinct labels,
    sorted. Completions: what the records of each label carry (they must agree); a label no
    record carries gets the first record's leading whitespace + the label.
    """
    completions: dict[str, set[str]] = {}
    for e in records:
        completions.setdefault(str(e.label), set()).add(e.completion)
    labels = tuple(choices) if choices is not None else tuple(sorted(completions))
    problems = []
    uncovered = sorted(set(completions) - set(labels))
    if uncovered:
        problems.append(
            f"choices {list(labels)} do not cover the label(s) {uncovered} found in the data; "
            "expected every label among the choices"
        )
    if len(labels) < 2:
        problems.append(f"choice_accuracy needs at least 2 choices, got {list(labels)}")
    for label, texts in sorted(completions.items()):
        if len(texts) > 1:
            problems.append(
                f"label {label!r} has {len(texts)} different completions "
                f"({sorted(texts)[:3]}); choice_accuracy scores one completion per label"
            )
    if problems:
        raise TaskOptionsError(problems)
    first = records[0].completion
    lead = first[: len(first) - len(first.lstrip())]
    texts = tuple(next(iter(completions[c])) if c in completions else lead + c for c in labels)
    return texts, labels


def _labelled(e: Example, scorer: TextMatch) -> Example:
    """``e`` with its label: the given one, else what ``scorer`` extracts from the completion."""
    return (
        e if e.label is not None else Example(e.prompt, e.completion, scorer.extract(e.completion))
    )


def _with_text_label(e: Example) -> Example:
    return e if e.label is not None else Example(e.prompt, e.completion, e.completion.strip())
