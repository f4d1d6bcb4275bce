"""Griffe extension for qtn's docstrings (loaded by mkdocs.yml's mkdocstrings options).

qtn writes short prose docstrings with a few reST habits. This turns them into the Markdown
mkdocstrings renders, before any docstring is parsed:

- Sphinx roles (``:class:`~qtn.data.Example```, ``:func:`inject```, ``:mod:`.grid```) become
  cross-references (``[`Example`][qtn.data.example.Example]``). The name is resolved the way
  Python would, from the object's module (its own members and imports, relative module
  names); an object of qtn that is not rendered in the API reference (a private name) or an
  object of another package stays a code span. A role naming a qtn object that does not exist
  stays a cross-reference, so ``mkdocs build --strict`` fails on it: a broken reference in a
  docstring fails the docs build (``bash scripts/docs.sh``, CI).
- ``>>>`` doctest lines (and their output lines) become fenced ``pycon`` blocks: Markdown would
  read ``>>>`` as nested quotes and ``[...]`` outputs as links.
- A paragraph ending in reST's literal-block marker ``::`` ends in ``:`` (the indented block
  after it is already a Markdown code block, and is left as it is).
- ``<`` that would open an HTML tag in prose (``<Z_i>``, ``|<k|U|0>|``) is escaped, so the
  maths shows instead of vanishing.
"""

from __future__ import annotations

import ast
import importlib
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|attr|data|obj|exc):`(~?)([^`<>]+?)`")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
TAG_START = re.compile(r"<(?=[A-Za-z/!?])(?!https?:)")

logger = griffe.get_logger(__name__)


class QtnDocstrings(griffe.Extension):
    """Rewrite every docstring of the loaded package once it is fully loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != "qtn":
            return
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj.docstring.value, obj, pkg)


def _walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if member.is_alias:
            continue
        yield from _walk(member)


def rewrite(text: str, obj: griffe.Object, root: griffe.Module) -> str:
    """The Markdown form of the docstring ``text`` of ``obj`` (see the module docstring)."""
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    in_fence = False
    literal: int | None = None  # indent of the line that opened a reST literal block (``::``)
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        if FENCE.match(line):
            in_fence = not in_fence
            out.append(line)
            i += 1
            continue
        if literal is not None and line.strip() and indent <= literal:
            literal = None
        if in_fence or literal is not None:  # code: left as it is
            out.append(line)
            i += 1
            continue
        if line.lstrip().startswith(">>>"):
            prefix = line[:indent]
            block = []
            while i < len(lines) and lines[i].strip() and lines[i].startswith(prefix):
                block.append(lines[i][indent:])
                i += 1
            if out and out[-1].strip():
                out.append("")  # a fence needs a blank line before it
            out += [f"{prefix}```pycon", *(prefix + b for b in block), f"{prefix}```"]
            continue
        line = _escape_tags(ROLE.sub(lambda m: _role(m, obj, root), line))
        if line.rstrip().endswith("::"):
            literal = indent
            if not line.lstrip().startswith(("-", "*")):
                stripped = line.rstrip()[:-2].rstrip()
                line = stripped + ":" if stripped else ""
        out.append(line)
        i += 1
    return "\n".join(out)


def _escape_tags(line: str) -> str:
    """``<Z_i>`` and ``|<k|U|0>|`` in prose are maths, not HTML tags: escape their ``<``
    (code spans are left alone)."""
    parts, pos = [], 0
    for m in CODE_SPAN.finditer(line):
        parts += [TAG_START.sub("&lt;", line[pos : m.start()]), m.group(0)]
        pos = m.end()
    parts.append(TAG_START.sub("&lt;", line[pos:]))
    return "".join(parts)


def _role(match: re.Match, obj: griffe.Object, root: griffe.Module) -> str:
    kind, tilde, name = match.groups()
    name = name.strip()
    shown = name.lstrip(".")
    if tilde:
        shown = shown.rsplit(".", 1)[-1]
    target = _resolve(name, kind, obj, root)
    label = f"`{shown}`"
    if target is None:
        return label
    return f"[{label}][{target}]"


def _resolve(name: str, kind: str, obj: griffe.Object, root: griffe.Module) -> str | None:
    """The canonical path of ``name`` as seen from ``obj``, or None when it is not a rendered
    object of qtn (another package, a private name). A qtn path that does not exist is
    returned as is, so the build reports it."""
    module = obj if obj.is_module else obj.module
    if name.startswith("."):
        base = module if module.is_init_module else module.parent
        level = len(name) - len(name.lstrip("."))
        for _ in range(level - 1):
            base = base.parent
        path = f"{base.path}.{name.lstrip('.')}"
    elif name.split(".")[0] == "qtn":
        path = name
    else:
        head, _, rest = name.partition(".")
        scope: griffe.Object | None = obj if obj.is_class else None
        path = None
        for where in (scope, obj.parent if obj.is_function and obj.parent else None, module):
            if where is not None and head in where.members:
                member = where.members[head]
                path = member.target_path if member.is_alias else member.path
                break
        if path is None:
            return None  # a builtin or a name of another package: a code span
        if rest:
            path = f"{path}.{rest}"
    if path.split(".")[0] != "qtn":
        return None
    canonical = _canonical(path, root) or _lazy_export(path, root) or _runtime_path(path)
    if canonical is None:
        return path  # no such object in qtn: left for the build to report
    if any(part.startswith("_") and not part.startswith("__") for part in canonical.split(".")):
        return None  # private: not in the API reference
    return canonical


def _lazy_export(path: str, root: griffe.Module) -> str | None:
    """``qtn.hf.from_pretrained`` -> ``qtn.hf.pretrained.from_pretrained``, read from the
    package's ``_EXPORTS = {name: module}`` map (the lazy re-exports of a module
    ``__getattr__``) without importing anything."""
    package, _, name = path.rpartition(".")
    exports = _find(f"{package}._EXPORTS", root)
    try:
        mapping = ast.literal_eval(str(exports.value)) if exports is not None else {}
    except (ValueError, SyntaxError):
        return None
    module = mapping.get(name) if isinstance(mapping, dict) else None
    return _canonical(f"{module}.{name}", root) if module else None


def _runtime_path(path: str) -> str | None:
    """Where ``path`` is defined, found by importing it: for names a package exports lazily
    (``qtn.hf`` maps ``from_pretrained`` to ``qtn.hf.pretrained`` in a module ``__getattr__``),
    which static analysis cannot see."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if module and qualname and module.split(".")[0] == "qtn":
            return f"{module}.{qualname}"
        return None
    return None


def _canonical(path: str, root: griffe.Module) -> str | None:
    """Follow re-exports (``qtn.data.Example`` -> ``qtn.data.example.Example``)."""
    obj = _find(path, root)
    return None if obj is None else obj.path


def _find(path: str, root: griffe.Module) -> Any:
    """The object at the dotted ``path`` (aliases followed), or None."""
    obj: Any = root
    for part in path.split(".")[1:]:
        obj = _target(obj)
        if obj is None or part not in obj.members:
            return None
        obj = obj.members[part]
    return _target(obj)


def _target(obj: Any) -> Any:
    if not obj.is_alias:
        return obj
    try:
        return obj.final_target
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
