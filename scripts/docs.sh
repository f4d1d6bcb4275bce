#!/usr/bin/env bash
# Build the docs site (guides, API reference from the docstrings, executed notebooks, results)
# into site/ with `mkdocs build --strict`: any warning fails the build, e.g. a broken link, a
# cross-reference to a qtn object that does not exist, or a docstring section griffe cannot
# parse. Offline: nothing is fetched. Open site/index.html afterwards.
# Assumes scripts/setup.sh has run (it installs the `docs` extra); PYTHON=... picks another
# interpreter. scripts/test.sh (CI) runs this after ruff.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if ! "$PY" -c "import mkdocs, mkdocstrings, mkdocs_jupyter" 2>/dev/null; then
  echo "scripts/docs.sh: mkdocs is not installed for $PY; run: bash scripts/setup.sh" >&2
  exit 2
fi
export NO_MKDOCS_2_WARNING=1 HF_HUB_OFFLINE=1
start=$SECONDS
"$PY" -m mkdocs build --strict --site-dir site "$@"
echo "docs: site/ built in $((SECONDS - start)) s (open site/index.html)"
