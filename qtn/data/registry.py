"""Task registry: an explicit, read-only name -> builder map (nothing registers on import).

A YAML config says ``task: sentiment`` plus options; :func:`build_task` checks the option names
against the builder's keyword arguments and reports unknown ones with the accepted list.
:func:`check_task` is the config-time check: it builds the tasks of :data:`CHECKED_AT_CONFIG`
(whose options depend on user files, cheap to read and the likeliest to be wrong) and returns
their problems as messages.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType

from qtn.data.arithmetic import arithmetic_task
from qtn.data.example import TaskData, TaskOptionsError
from qtn.data.hamlet import hamlet_task
from qtn.data.jsonl import jsonl_task
from qtn.data.sentiment import sentiment_task

TASKS: Mapping[str, Callable[..., TaskData]] = MappingProxyType(
    {
        "sentiment": sentiment_task,
        "hamlet": hamlet_task,
        "arithmetic": arithmetic_task,
        "jsonl": jsonl_task,
    }
)


CHECKED_AT_CONFIG: frozenset[str] = frozenset({"jsonl"})
"""Tasks :func:`check_task` builds (reads) when a run config is validated."""


def task_options(name: str) -> dict[str, object]:
    """Option names of task ``name`` with their defaults."""
    builder = _builder(name)
    return {p.name: p.default for p in inspect.signature(builder).parameters.values()}


def build_task(name: str, **options: object) -> TaskData:
    """Build task ``name`` with ``options`` (e.g. ``build_task("sentiment", n_train=512)``)."""
    builder = _builder(name)
    accepted = task_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(f"task {name!r} got unknown option(s) {unknown}; accepted: {accepted}")
    return builder(**options)


def check_task(name: str, options: Mapping[str, object]) -> list[str]:
    """Problems building task ``name`` with ``options`` (empty = fine or not checked here).

    Only tasks in :data:`CHECKED_AT_CONFIG` are built; each problem is one message (e.g.
    ``"jsonl metric must be one of [...], got 'acc'"``, a ``file:line`` JSONL error)."""
    if name not in CHECKED_AT_CONFIG:
        return []
    try:
        build_task(name, **options)
    except TaskOptionsError as err:
        return list(err.problems)
    except (ValueError, TypeError, KeyError) as err:
        return [str(err)]
    return []


def _builder(name: str) -> Callable[..., TaskData]:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; available: {sorted(TASKS)}")
    return TASKS[name]
