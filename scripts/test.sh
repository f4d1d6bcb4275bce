#!/usr/bin/env bash
# Set up .venv, run ruff, build the docs site strictly (warnings fail) and run the whole test
# suite (the README's test command; .ci/run calls this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m ruff check qtn tests benchmarks experiments notebooks docs
bash scripts/docs.sh
.venv/bin/python -m pytest -n 2 "$@"
