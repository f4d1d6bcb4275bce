"""MkDocs hooks (mkdocs.yml ``hooks:``): the repository files the site shows, and the
reference sections generated from the code.

- Repository files outside ``docs/`` become pages at their repository paths: the executed
  notebooks (``notebooks/executed/*.ipynb``, rendered by mkdocs-jupyter, listed under
  "Notebooks" in the navigation, whichever exist) and the committed results
  (``experiments/*/*.md``, ``benchmarks/results/*.md`` and their PNG figures, under
  "Results").
- A guide links such a file by its path from the guide's location in the repository
  (``../../experiments/paper_qtha/RESULTS.md`` from ``docs/guides/``), so the link also works
  when the Markdown is read on GitHub; the hook rewrites it to the page's place in the site. A
  link to a file that is neither in ``docs/`` nor one of these stays as written and fails the
  strict build.
- ``<!-- qtn:config-reference -->``, ``<!-- qtn:sweep-reference -->`` and
  ``<!-- qtn:cli-reference -->`` in a page are replaced by the tables of :mod:`reference` (every
  run-config and sweep-file key with its default and the errors bad values give; every ``qtn``
  subcommand's ``--help``), generated from the code at build time.
"""

from __future__ import annotations

import json
import posixpath
import re
import sys
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
REPO_GLOBS = {
    "Notebooks": ["notebooks/executed/*.ipynb"],
    # the committed result tables (a sweep's own summary.md links plots that are not
    # committed, so results/<task>/summary.md files are not pages)
    "Results": ["experiments/*/RESULTS.md", "experiments/*/*.md", "benchmarks/results/*.md"],
    None: ["experiments/*/*.png", "experiments/*/results/*.png", "benchmarks/results/*.png"],
}
def notebooks_table() -> str:
    """The executed notebooks that exist: title (first heading), run time and size."""
    rows = ["| notebook | source | executed in | size |", "|---|---|---:|---:|"]
    for path in sorted((ROOT / "notebooks" / "executed").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        title = next(
            (line[2:].strip() for cell in nb["cells"] if cell["cell_type"] == "markdown"
             for line in "".join(cell["source"]).splitlines() if line.startswith("# ")),
            path.stem,
        )
        meta = nb.get("metadata", {}).get("qtn", {})
        seconds = meta.get("executed_s")
        took = f"{seconds / 60:.1f} min" if seconds is not None else "?"
        source = meta.get("source", f"notebooks/{path.stem}.py")
        rows.append(f"| [{title}](../notebooks/executed/{path.name}) | `{source}` | {took} | "
                    f"{path.stat().st_size / 1e3:,.0f} kB |")
    if len(rows) == 2:
        return "No executed notebooks yet: run `bash notebooks/execute.sh`."
    return "\n".join(rows)


MARKERS = {
    "<!-- qtn:config-reference -->": reference.config_reference,
    "<!-- qtn:sweep-reference -->": reference.sweep_reference,
    "<!-- qtn:cli-reference -->": reference.cli_reference,
    "<!-- qtn:notebooks -->": notebooks_table,
}
LINK = re.compile(r"(\]\()([^)\s#]+)(#[^)\s]*)?(\))")


def repo_files() -> dict[str | None, list[str]]:
    """Repository paths shown in the site, by navigation section (None: no nav entry)."""
    out: dict[str | None, list[str]] = {}
    seen: set[str] = set()
    for section, globs in REPO_GLOBS.items():
        for pattern in globs:
            for path in sorted(ROOT.glob(pattern)):
                rel = path.relative_to(ROOT).as_posix()
                if rel not in seen and path.is_file():
                    seen.add(rel)
                    out.setdefault(section, []).append(rel)
    return out


def on_config(config, **kwargs):
    """Fill the "Notebooks" and "Results" sections of the nav with the files that exist."""
    found = repo_files()
    nav = config["nav"]
    for section in ("Notebooks", "Results"):
        entries = [_nav_entry(p) for p in found.get(section, [])]
        for item in nav:
            if isinstance(item, dict) and section in item:
                item[section] = [*(item[section] or []), *entries]
                break
        else:
            if entries:
                nav.append({section: entries})
    return config


def _nav_entry(path: str):
    if path.endswith(".ipynb"):
        return path  # mkdocs-jupyter takes the title from the notebook's first heading
    return {path: path}


@event_priority(100)  # before mkdocs-jupyter, which converts the .ipynb files it finds here
def on_files(files: Files, config, **kwargs) -> Files:
    for paths in repo_files().values():
        for path in paths:
            files.append(
                File(path, str(ROOT), config["site_dir"], config["use_directory_urls"])
            )
    return files


def on_page_markdown(markdown: str, page, config, files: Files, **kwargs) -> str:
    for marker, generate in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return LINK.sub(lambda m: _relink(m, page.file.src_uri, files), markdown)


def _relink(match: re.Match, src_uri: str, files: Files) -> str:
    """A link that leaves ``docs/`` for a repository file the site shows, pointed at it."""
    target = match.group(2)
    if "://" in target or target.startswith(("/", "mailto:")):
        return match.group(0)
    page_dir = posixpath.dirname(src_uri)
    resolved = posixpath.normpath(posixpath.join(page_dir, target))
    if not resolved.startswith("../") or resolved.startswith("../../"):
        return match.group(0)
    repo_path = resolved[3:]
    if files.get_file_from_path(repo_path) is None:
        return match.group(0)  # not shown in the site: the build reports the broken link
    rel = posixpath.relpath(repo_path, page_dir or ".")
    return f"{match.group(1)}{rel}{match.group(3) or ''}{match.group(4)}"
