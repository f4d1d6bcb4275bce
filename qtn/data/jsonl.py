"""User data: JSONL files with one ``{"prompt": str, "completion": str}`` object per line.

An optional ``"label"`` string is kept for metrics; any other key is an error (typos such as
``"complection"`` should not pass silently). Blank lines are skipped. Every error names the file
and the 1-based line number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from qtn.data.example import Example, TaskData, take_splits

REQUIRED_KEYS = ("prompt", "completion")
OPTIONAL_KEYS = ("label",)


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
) -> TaskData:
    """User JSONL task: either one ``path`` split by ``seed``, or explicit split files.

    With explicit files, ``train_path`` is required and missing val/test splits are empty.
    ``metric`` is ``exact_match`` (label = completion unless a ``label`` is given) or
    ``perplexity``.
    """
    if metric not in ("exact_match", "perplexity"):
        raise ValueError(f"jsonl metric must be 'exact_match' or 'perplexity', got {metric!r}")
    if (path is None) == (train_path is None):
        raise ValueError("give exactly one of `path` (split by seed) or `train_path`")
    if path is not None:
        train, val, test = take_splits(
            read_jsonl(path), seed=seed, fractions=fractions, n_train=n_train, n_eval=n_eval
        )
    else:
        train = read_jsonl(train_path)[:n_train]
        val = read_jsonl(val_path)[:n_eval] if val_path else []
        test = read_jsonl(test_path)[:n_eval] if test_path else []
    if metric == "exact_match":
        train, val, test = ([_with_label(e) for e in s] for s in (train, val, test))
    return TaskData(
        name="jsonl",
        train=train,
        val=val,
        test=test,
        metric=metric,  # type: ignore[arg-type]
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
        },
    )


def _with_label(e: Example) -> Example:
    return e if e.label is not None else Example(e.prompt, e.completion, e.completion.strip())
