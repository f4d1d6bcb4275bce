"""Package layering (ARCHITECTURE.md, "Layers of the package"): a module may import only its
own layer and the layers listed above it. Every import under qtn/ counts, at module level or
inside a function (lazy), including ``importlib.import_module("qtn....")`` with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

QTN = Path(__file__).resolve().parents[1] / "qtn"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("tn",),
    ("quantum",),
    ("contract",),
    ("nn",),
    ("models",),
    ("hf",),
    ("adapters",),
    ("train",),
    ("data",),
    ("experiment",),
    ("sweep", "commands", "cli", "__init__"),  # CLI / workflow glue: may import anything
)
"""Lowest layer first; names in one tuple share a layer (``__init__`` = ``qtn/__init__.py``)."""

RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def layer_of(path: Path, root: Path) -> str:
    """``qtn/train/loop.py`` -> ``train``; ``qtn/cli.py`` -> ``cli``."""
    first = path.relative_to(root).parts[0]
    return first.removesuffix(".py")


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every ``qtn`` import in the file at ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(root.parent).with_suffix("")
    package = list(rel.parts if rel.name == "__init__" else rel.parts[:-1])
    if package and package[-1] == "__init__":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "qtn":  # `from qtn import train` imports qtn.train
                found += [(node.lineno, f"qtn.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            name = _literal_prefix(node.args[0])
            if name is not None:
                found.append((node.lineno, name))
    return sorted((line, m) for line, m in found if m.split(".")[0] == "qtn" and "." in m)


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id == "import_module"
    )


def _literal_prefix(arg: ast.expr) -> str | None:
    """The module name of a literal argument, or the constant head of an f-string."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        head = str(arg.values[0].value)
        return head.rstrip(".") if head.count(".") >= 2 else None
    return None


def layer_violations(root: Path) -> list[str]:
    """One line per import of a lower module from a higher layer, or of an unknown layer."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        own = layer_of(path, root)
        where = path.relative_to(root.parent).as_posix()
        if own not in RANK:
            problems.append(f"{where}: layer {own!r} is not in LAYERS (add it to the test)")
            continue
        for line, module in imported_modules(path, root):
            target = module.split(".")[1]
            if target not in RANK:
                problems.append(f"{where}:{line} imports {module}: unknown layer {target!r}")
            elif RANK[target] > RANK[own]:
                problems.append(
                    f"{where}:{line} imports {module} (layer {target!r} is below {own!r})"
                )
    return problems


def test_no_module_imports_a_lower_layer():
    problems = layer_violations(QTN)
    assert not problems, "layering violations:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize(
    "source, bad",
    [
        ("from qtn.data.pipeline import build_data\n", "qtn.data.pipeline"),
        ("def f():\n    import qtn.experiment.run\n", "qtn.experiment.run"),
        ("def f():\n    from qtn import data\n", "qtn.data"),
        ("from ..data import pipeline\n", "qtn.data"),
        ("import importlib\nimportlib.import_module('qtn.cli')\n", "qtn.cli"),
    ],
)
def test_checker_names_file_and_module(tmp_path, source, bad):
    root = tmp_path / "qtn"
    (root / "train").mkdir(parents=True)
    (root / "train" / "__init__.py").write_text("")
    (root / "train" / "ok.py").write_text("from qtn.hf import x\nfrom . import loop\n")
    (root / "train" / "bad.py").write_text(source)
    problems = layer_violations(root)
    assert len(problems) == 1 and problems[0].startswith("qtn/train/bad.py:")
    assert f"imports {bad} " in problems[0]
