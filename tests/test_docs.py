"""The docs site cannot forget a module, a command, a config section or a page.

The strict build itself (``bash scripts/docs.sh``, run by scripts/test.sh) catches broken
links and cross-references; these tests catch what a build cannot see: something new in the
code that no page mentions.
"""

from __future__ import annotations

import importlib.util
import json
import pkgutil
import re
import sys
from pathlib import Path

import pytest
import yaml

import qtn

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXT = DOCS / "_ext"


def public_modules() -> list[str]:
    """Every module of qtn whose dotted name has no part starting with an underscore."""
    return sorted(
        m.name
        for m in pkgutil.walk_packages(qtn.__path__, "qtn.")
        if not any(part.startswith("_") for part in m.name.split("."))
    )


def documented_modules() -> dict[str, str]:
    """``module -> api page`` for every ``::: qtn...`` block of docs/api/*.md."""
    found = {}
    for page in sorted((DOCS / "api").glob("*.md")):
        for name in re.findall(r"^::: (qtn(?:\.\w+)*)\s*$", page.read_text(), re.M):
            found[name] = page.name
    return found


def test_every_public_module_is_in_the_api_reference():
    documented = documented_modules()
    missing = [m for m in public_modules() if m not in documented]
    assert not missing, (
        "public modules with no `::: module` block in docs/api/*.md (add each to its "
        f"package's page): {missing}"
    )


def test_api_reference_names_only_existing_modules():
    stale = [m for m in documented_modules() if importlib.util.find_spec(m) is None]
    assert not stale, f"docs/api/*.md documents modules that do not exist: {stale}"


def test_every_api_page_and_guide_is_in_the_nav():
    # mkdocs.yml has no custom tags, but mkdocs' own loader is not needed to read the nav
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    listed = set(re.findall(r"[\w/.-]+\.md", json.dumps(nav)))
    pages = {
        p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if "_ext" not in p.parts
    }
    assert pages - listed == set(), f"pages missing from mkdocs.yml's nav: {pages - listed}"


def cli_commands() -> list[str]:
    from qtn.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if getattr(a, "choices", None))
    return list(sub.choices)


def test_every_cli_command_has_a_section_in_the_cli_guide():
    text = (DOCS / "guides" / "cli.md").read_text()
    headed = set(re.findall(r"^## `qtn ([\w-]+)`", text, re.M))
    commands = cli_commands()
    assert len(commands) >= 9
    missing = [c for c in commands if c not in headed]
    assert not missing, f"docs/guides/cli.md has no '## `qtn NAME`' section for {missing}"
    assert "<!-- qtn:cli-reference -->" in text  # every flag, generated at build time


@pytest.fixture(scope="module")
def reference():
    sys.path.insert(0, str(EXT))
    try:
        import reference as module

        yield module
    finally:
        sys.path.remove(str(EXT))


def test_config_reference_covers_every_section_method_and_task(reference):
    import dataclasses

    from qtn.adapters.registry import METHODS
    from qtn.data.registry import TASKS
    from qtn.experiment.config import SECTIONS, RunConfig

    text = reference.config_reference()
    for field in dataclasses.fields(RunConfig):
        assert f"| `{field.name}` |" in text, field.name
    for section, cls in SECTIONS.items():
        assert f"### `{section}`" in text, section
        for field in dataclasses.fields(cls):
            assert f"| `{section}.{field.name}` |" in text, f"{section}.{field.name}"
    for name, method in METHODS.items():
        assert f"#### `adapter.method: {name}`" in text, name
        for option in (*method.option_names(), *method.pattern_names()):
            assert f"| `adapter.{option}` |" in text, f"{name}: {option}"
    for task in TASKS:
        assert f"#### `data.task: {task}`" in text, task
    # the errors are the code's own messages, found by probing
    assert "`train.steps must be >= 1, got -1`" in text
    assert "unknown key train.stepz (did you mean train.steps?)" in text


def test_sweep_reference_covers_every_key(reference):
    from qtn.sweep.spec import KNOWN_KEYS

    text = reference.sweep_reference()
    for key in KNOWN_KEYS:
        assert f"| `{key}` |" in text, key
    assert "`jobs must be an integer >= 1, got 0`" in text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("YAML::\n\n    a: 1  # one\n          #   more\n    b: 2  # two",
         {"a": "one more", "b": "two"}),
        ("    x: 1  # first part\n    y: 2  #   second part",
         {"x": "first part second part", "y": "first part second part"}),
        ("    x: 1  # alone\n    # heading of the next keys\n    y: 2", {"x": "alone"}),
    ],
)
def test_yaml_meanings(reference, text, expected):
    class Doc:
        __doc__ = text

    assert reference.yaml_meanings(Doc) == expected


def test_docstring_roles_become_cross_references():
    griffe = pytest.importorskip("griffe")
    sys.path.insert(0, str(EXT))
    try:
        from griffe_qtn import rewrite
    finally:
        sys.path.remove(str(EXT))
    root = griffe.load("qtn", search_paths=[str(ROOT)], resolve_aliases=False)
    module = root["data"]  # qtn.data re-exports Example from qtn.data.example
    text = (
        "A :class:`Example` and :class:`~qtn.data.example.TaskData`, :mod:`.registry`, "
        ":func:`qtn.hf.from_pretrained` (exported lazily), :class:`numpy.ndarray`, "
        ":func:`qtn.data.no_such_function`.\n>>> [1, 2]\n[1, 2]\n\nEnd::"
    )
    out = rewrite(text, module, root)
    assert "[`Example`][qtn.data.example.Example]" in out
    assert "[`TaskData`][qtn.data.example.TaskData]" in out
    assert "[`registry`][qtn.data.registry]" in out
    assert "[`qtn.hf.from_pretrained`][qtn.hf.pretrained.from_pretrained]" in out
    assert "`numpy.ndarray`" in out and "][numpy" not in out  # another package: a code span
    # a qtn name that does not exist stays a reference, so the strict build fails on it
    assert "[`qtn.data.no_such_function`][qtn.data.no_such_function]" in out
    assert ".\n\n```pycon\n>>> [1, 2]\n[1, 2]\n```\n" in out
    assert out.endswith("End:")
    # maths in prose is not an HTML tag; a literal block is code, left as it is
    out = rewrite("p = |<k|U|0>|^2 and `<Z_i>`; YAML::\n\n    a: <n>  # :class:`Example`\n"
                  "\nafter <Z_i>", module, root)
    assert out == ("p = |&lt;k|U|0>|^2 and `<Z_i>`; YAML:\n\n    a: <n>  # :class:`Example`\n"
                   "\nafter &lt;Z_i>")


def test_executed_notebooks_are_small_clean_and_have_a_source():
    executed = sorted((ROOT / "notebooks" / "executed").glob("*.ipynb"))
    for path in executed:
        assert (ROOT / "notebooks" / f"{path.stem}.py").is_file(), f"{path.name}: no source"
        assert path.stat().st_size < 2_000_000, f"{path.name}: over 2 MB"
        nb = json.loads(path.read_text())
        assert "widgets" not in nb["metadata"], path.name
        assert nb["metadata"]["qtn"]["small"] is False, path.name
        outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
        assert not [o for o in outputs if o["output_type"] == "error"], path.name
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name}: no figure"
