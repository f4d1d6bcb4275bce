"""Reference tables generated from the code, so the guides cannot drift from it.

- :func:`config_reference`: every key of a run config (top level, ``model``, ``data`` and each
  task's options, ``adapter`` and each method's options, ``train``, ``eval``, ``quantum``,
  ``parallel``) with its type, its default, what it means where a docstring's YAML block says
  so, and the errors a bad value gives. The errors are not transcribed: each key is *probed*
  with bad values of its type (a choice that does not exist, -1, 0, an empty list...) through
  ``RunConfig.from_dict`` — what ``qtn train`` runs before loading anything — and the
  messages it raises are shown.
- :func:`cli_reference`: every ``qtn`` subcommand's ``--help``, from ``qtn.cli.build_parser``.

- :func:`sweep_reference`: every key of a ``sweep.yaml``, probed the same way.

``python docs/_ext/reference.py config|sweep|cli`` prints one of them (the docs build inserts them
into ``docs/guides/config.md`` and ``docs/guides/cli.md`` through ``hooks.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import os
import re
import sys
import tempfile
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # this checkout's qtn, whatever the environment has installed
    sys.path.insert(0, str(ROOT))

MISSING = dataclasses.MISSING
ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`]+)`")
YAML_KEY = re.compile(r"^\s*(?:- )?([A-Za-z_][\w-]*):\s*(.*?)\s+#\s?(.*)$")
YAML_MORE = re.compile(r"^\s+#\s?(.*)$")


# -- probing -------------------------------------------------------------------------------

def probe(config: Mapping[str, Any]) -> list[str]:
    """The problems ``RunConfig.from_dict(config)`` reports (``[]``: valid)."""
    from qtn.experiment.config import ConfigError, RunConfig

    try:
        RunConfig.from_dict(config)
    except ConfigError as err:
        text = str(err)
        head = "invalid run config:\n  - "
        return text[len(head):].split("\n  - ") if text.startswith(head) else [text]
    except Exception as err:  # shown as what it is: an error the config check does not catch
        return [f"{type(err).__name__}: {err}"]
    return []


def _types(annotation: Any) -> set[Any]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType):
        return set().union(*(_types(a) for a in args))
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return {str}
    return {origin or annotation}


def bad_values(annotation: Any) -> list[Any]:
    """Values of the right type that a check may refuse (type errors are shown once, above)."""
    kinds = _types(annotation)
    values: list[Any] = []
    if str in kinds:
        values.append("bogus")
    if int in kinds or float in kinds:
        values += [-1, 0]
    if float in kinds:
        values.append(1.5)
    if tuple in kinds or list in kinds:
        values += [[], [-1]]
    if dict in kinds or Mapping in kinds:
        values.append({"bogus": 1})
    return values


def key_errors(build: Callable[[Any], Mapping[str, Any]], annotation: Any) -> list[str]:
    """The distinct problems of the configs ``build(v)`` for each bad value ``v``."""
    seen: list[str] = []
    for value in bad_values(annotation):
        for problem in probe(build(value)):
            if problem not in seen:
                seen.append(problem)
    return seen


def set_in(section: str | None, key: str, value: Any, base: Mapping[str, Any] | None = None):
    """A run config with ``section.key = value`` on top of ``base``."""
    base = dict(base or {})
    if section is None:
        return {**base, key: value}
    return {**base, section: {**base.get(section, {}), key: value}}


# -- formatting ------------------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    if isinstance(value, str):
        return f"`{value}`"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value!r}`"


def _type_name(annotation: Any) -> str:
    text = str(annotation) if not isinstance(annotation, type) else annotation.__name__
    text = re.sub(r"typing\.|collections\.abc\.|qtn\.[\w.]+\.", "", text)
    return text.replace("NoneType", "None")


def _span(text: str) -> str:
    """``text`` as a Markdown code span (longer fences when it holds backticks)."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _text(text: str) -> str:
    """Prose for a table cell (``<name>`` is not an HTML tag)."""
    return _cell(text).replace("<", "&lt;").replace(">", "&gt;")


def _errors_cell(errors: list[str]) -> str:
    """The distinct messages, one per kind: those that differ only in the value after
    ``got`` are shown once (the first)."""
    if not errors:
        return "— (no check before the run starts)"
    kinds: dict[str, str] = {}
    for e in errors:
        kinds.setdefault(re.sub(r"got .*$", "got", e), e)
    return "<br>".join(_span(_cell(e)) for e in kinds.values())


def _prose(doc: str | None) -> str:
    """A docstring as Markdown prose (roles become code spans)."""
    doc = inspect.cleandoc(doc or "")
    doc = ROLE.sub(lambda m: f"``{m.group(2).split('.')[-1] if m.group(1) else m.group(2)}``", doc)
    return re.sub(r"::$", ":", doc, flags=re.M)


def yaml_meanings(*objects: Any) -> dict[str, str]:
    """``key -> comment`` from the YAML blocks (``key: value  # comment``) of docstrings.

    A comment-only line continues the comment above it when its ``#`` is in that comment's
    column (else it is a heading of the next keys); a key whose comment starts indented
    (``#   ...``) continues the previous key's comment, and both keys get the whole text."""
    out: dict[str, str] = {}
    for obj in objects:
        last, column, group = None, -1, []
        for line in (inspect.getdoc(obj) or "").splitlines():
            m = YAML_KEY.match(line)
            if m:
                key, comment = m.group(1), m.group(3)
                if comment.startswith("  ") and group:
                    group.append(key)
                    _extend(out, group, comment)
                else:
                    group = [key]
                    out.setdefault(key, comment.strip())
                last, column = key, line.index("#", m.start(3) - 2)
                continue
            more = YAML_MORE.match(line)
            if more and last is not None and abs(line.index("#") - column) <= 2:
                _extend(out, group, more.group(1))
            else:
                last, group = None, []
    return out


def _extend(out: dict[str, str], keys: list[str], text: str) -> None:
    text = " ".join([out.get(keys[0], ""), text.strip()]).strip()
    for key in keys:
        out[key] = text


def table(rows: list[tuple[str, str, str, str, str]]) -> str:
    head = "| key | type | default | meaning | error from a bad value |\n|---|---|---|---|---|\n"
    return head + "\n".join(
        f"| `{k}` | {_text(t)} | {d} | {_text(m)} | {e} |" for k, t, d, m, e in rows
    )


def dataclass_rows(
    cls: type,
    prefix: str,
    build: Callable[[str, Any], Mapping[str, Any]],
    meanings: Mapping[str, str],
    skip: tuple[str, ...] = (),
) -> list[tuple[str, str, str, str, str]]:
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        errors = key_errors(lambda v, name=f.name: build(name, v), hints[f.name])
        rows.append((f"{prefix}{f.name}", _type_name(hints[f.name]), _code(default),
                     meanings.get(f.name, ""), _errors_cell(errors)))
    return rows


# -- the config reference ------------------------------------------------------------------

def config_reference() -> str:
    from qtn.adapters.registry import METHODS
    from qtn.data import pipeline
    from qtn.data.pipeline import DataConfig
    from qtn.data.registry import TASKS, task_options
    from qtn.experiment import config as run_config
    from qtn.quantum import config as quantum_config
    from qtn.train import config as train_config

    out = [
        "Generated from the code when the site is built (`docs/_ext/reference.py`): the "
        "defaults are the dataclasses' and the builders' own, the errors are what "
        "`RunConfig.from_dict` (run by `qtn train`, `qtn train --check` and `qtn sweep` "
        "before anything is loaded) raises when the key alone is set to a bad value of its "
        "type (an unknown choice, -1, 0, an empty list). Every problem of a config is "
        "reported at once, one per line, after `invalid run config:`.",
        "",
        "Two errors apply to every key and are not repeated in the tables:",
        "",
        f"- an unknown key: {_span(probe({'train': {'stepz': 3}})[0])}",
        f"- a value of the wrong type: {_span(probe({'train': {'steps': 'ten'}})[0])}",
        "",
    ]

    top_hints = typing.get_type_hints(run_config.RunConfig)
    out += ["### Top level", "", _prose(run_config.RunConfig.__doc__), ""]
    rows = []
    for name in ("name", "seed", "out_dir"):
        field = run_config.RunConfig.__dataclass_fields__[name]
        errors = key_errors(lambda v, n=name: {n: v}, top_hints[name])
        rows.append((name, _type_name(top_hints[name]), _code(field.default), "",
                     _errors_cell(errors)))
    for name in ("model", "data", "adapter", "train", "eval", "quantum", "parallel"):
        rows.append((name, "section", "see below", f"the `{name}:` section",
                     _errors_cell(probe({name: "bogus"}))))
    out += [table(rows), ""]

    sections = [
        ("model", run_config.ModelConfig, (run_config,)),
        ("train", train_config.TrainConfig, ()),
        ("eval", run_config.EvalConfig, ()),
        ("parallel", train_config.ParallelConfig, ()),
        ("quantum", quantum_config.QuantumConfig, (quantum_config,)),
    ]
    for name, cls, meaning_sources in sections:
        out += [f"### `{name}`", "", _prose(cls.__doc__), ""]
        if name == "quantum":
            out += ["The YAML block with every default is in the module docstring of "
                    "[`qtn.quantum.config`][qtn.quantum.config].", ""]
        rows = dataclass_rows(cls, f"{name}.", lambda k, v, s=name: set_in(s, k, v),
                              yaml_meanings(*meaning_sources))
        out += [table(rows), ""]

    out += _data_reference(pipeline, DataConfig, TASKS, task_options)
    out += _adapter_reference(METHODS)
    return "\n".join(out)


def _data_reference(pipeline, DataConfig, TASKS, task_options) -> list[str]:
    out = ["### `data`", "", _prose(DataConfig.__doc__), "",
           "Keys of every task (the batching and tokenization of "
           "[`DataConfig`][qtn.data.pipeline.DataConfig]); any other key of the section is "
           "an option of the chosen task (below).", ""]
    meanings = yaml_meanings(pipeline)
    rows = dataclass_rows(DataConfig, "data.", lambda k, v: set_in("data", k, v), meanings,
                          skip=("task_options",))
    out += [table(rows), ""]
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample.jsonl"
        sample.write_text("".join(
            f'{{"prompt": "Q{i}:", "completion": " {i % 2}"}}\n' for i in range(20)))
        for task, builder in TASKS.items():
            base = {"task": task, **({"path": str(sample)} if task == "jsonl" else {})}
            hints = typing.get_type_hints(builder)
            out += [f"#### `data.task: {task}`", "",
                    _prose((inspect.getdoc(builder) or "").split("\n\n")[0]),
                    f"([`{builder.__name__}`][{builder.__module__}.{builder.__name__}])", ""]
            rows = []
            for opt, default in task_options(task).items():
                errors = key_errors(
                    lambda v, o=opt, b=base: {"data": {**b, o: v}}, hints.get(opt, Any))
                rows.append((f"data.{opt}", _type_name(hints.get(opt, Any)), _code(default), "",
                             _errors_cell(errors)))
            out += [table(rows), ""]
    return out


def _adapter_reference(METHODS) -> list[str]:
    out = ["### `adapter`", "",
           "`adapter: null` or `method: none` trains nothing (the base model is evaluated). "
           "Otherwise `method` and `target_modules` are required; the other keys are the "
           "method's options and its per-module override maps "
           "([`AdapterSpec`][qtn.adapters.spec.AdapterSpec]).", ""]
    base = {"method": "lora", "target_modules": ["q_proj", "v_proj"]}
    rows = []
    for key, value in (("method", "bogus"), ("target_modules", [])):
        rows.append((f"adapter.{key}", "str" if key == "method" else "str or list[str]",
                     "required", "", _errors_cell(probe({"adapter": {**base, key: value}}))))
    out += [table(rows), ""]
    for name, method in METHODS.items():
        cls = method.config_cls
        module = sys.modules[cls.__module__]
        base = {"method": name, "target_modules": ["q_proj", "v_proj"]}
        out += [f"#### `adapter.method: {name}`", "",
                f"Options of [`{cls.__name__}`][{cls.__module__}.{cls.__name__}] (the YAML "
                f"block is in [`{cls.__module__}`][{cls.__module__}]).", ""]
        meanings = yaml_meanings(module, *(sys.modules[b.__module__] for b in cls.__mro__[1:-1]))
        rows = dataclass_rows(cls, "adapter.", lambda k, v, b=base: {"adapter": {**b, k: v}},
                              meanings)
        for pattern, field in method.pattern_names().items():
            errors = _errors_cell(probe({"adapter": {**base, pattern: {"q_proj": -1}}}))
            rows.append((f"adapter.{pattern}", "{module pattern: value}", "`{}`",
                         f"per-module override of `{field}`", errors))
        out += [table(rows), ""]
    return out


# -- sweep files ---------------------------------------------------------------------------

def sweep_reference() -> str:
    """Every key of a ``sweep.yaml`` (``qtn.sweep.spec.KNOWN_KEYS``) with its meaning (the
    module docstring's YAML block) and the errors ``parse_sweep`` gives for bad values."""
    from qtn.sweep import spec

    meanings = yaml_meanings(spec)
    rows = []
    for key in spec.KNOWN_KEYS:
        errors: list[str] = []
        for value in (0, -1, "bogus", [1], {"bogus": 1}):
            try:
                spec.parse_sweep({"base": {}, key: value})
            except ValueError as err:
                text = str(err)
                head = "invalid sweep spec:\n  - "
                for problem in (text[len(head):] if text.startswith(head) else text).split(
                    "\n  - "
                ):
                    if problem not in errors:
                        errors.append(problem)
            except Exception as err:  # not caught by the spec check: shown as what it is
                problem = f"{type(err).__name__}: {err}"
                if problem not in errors:
                    errors.append(problem)
        rows.append((key, meanings.get(key, ""), _errors_cell(errors)))
    head = "| key | meaning and default | errors from bad values |\n|---|---|---|\n"
    return (
        "Generated from `qtn.sweep.spec` when the site is built: each key is set alone to "
        "bad values (0, -1, a string, a list, a mapping) and the errors `load_sweep` reports "
        "are shown.\n\n"
        + head
        + "\n".join(f"| `{k}` | {_text(m)} | {e} |" for k, m, e in rows)
        + "\n"
    )


# -- the CLI reference ---------------------------------------------------------------------

def cli_reference() -> str:
    from qtn.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and set(a.choices) >= set(COMMANDS))
    out = []
    with _columns(100):
        out += ["### `qtn --help`", "", "```text", parser.format_help().rstrip(), "```", ""]
        for name, command in sub.choices.items():
            module = f"qtn.commands.{name.replace('-', '_')}"
            out += [f"### `qtn {name} --help`", "",
                    f"Source and docstring: [`{module}`][{module}].", "",
                    "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(out)


@contextlib.contextmanager
def _columns(n: int):
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(n)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = old


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "config"
    generate = {"config": config_reference, "sweep": sweep_reference, "cli": cli_reference}
    with contextlib.redirect_stderr(io.StringIO()):
        text = generate[which]()
    print(text)
