#!/usr/bin/env bash
# Execute every notebooks/NN_name.py (jupytext percent format) at its real size into
# notebooks/executed/NN_name.ipynb, outputs and figures included (see notebooks/execute.py).
# `bash notebooks/execute.sh 03_hybrid_vs_lora.py` runs only the ones named. Real sizes train
# SmolLM2 on the CPU: tens of minutes for 03 and 05 (times in notebooks/README.md).
# Assumes scripts/setup.sh has run (PYTHON=... picks another interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
"${PYTHON:-.venv/bin/python}" notebooks/execute.py "$@"
