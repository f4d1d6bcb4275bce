#!/usr/bin/env bash
# The main job (README): set up .venv, verify/convert the offline assets, then fine-tune the
# offline SmolLM2-135M-Instruct on rotten-tomatoes sentiment with no adapter / LoRA r=8 /
# the paper's QTHA / circuit-MPO (the weight-space hybrid) (same data, steps and seed) and print the comparison table. Resumable: run it again after an
# interruption and finished points are skipped, the interrupted one resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh main
export HF_HUB_OFFLINE=1
.venv/bin/qtn assets
.venv/bin/qtn sweep experiments/main/sweep.yaml --jobs "${JOBS:-2}" "$@" || status=$?
.venv/bin/python -m qtn.sweep.report runs/main --title "Main job: SmolLM2-135M-Instruct, rotten-tomatoes sentiment" --out runs/main/RESULTS.md
cat runs/main/RESULTS.md
echo "outputs: runs/main (summary.md, results.csv, plots/, points/*/metrics.jsonl)"
exit "${status:-0}"
