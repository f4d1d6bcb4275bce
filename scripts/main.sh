#!/usr/bin/env bash
# The main job (README): set up .venv (only what the job runs: `setup.sh main`), verify/convert
# the offline assets, then fine-tune the offline SmolLM2-135M-Instruct on rotten-tomatoes
# sentiment with no adapter / the paper's QTHA / LoRA r=8 / circuit-MPO (the weight-space
# hybrid) on the same data, steps and seed, two points at a time (JOBS=1 for one), and print
# the comparison table with each point's compile / train / eval seconds. Resumable: run it again
# after an interruption and finished points are skipped, the interrupted one resumes from its
# checkpoint. Extra arguments go to `qtn sweep`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh main
export HF_HUB_OFFLINE=1
.venv/bin/qtn assets
.venv/bin/qtn sweep experiments/main/sweep.yaml --jobs "${JOBS:-2}" "$@" || status=$?
.venv/bin/python -m qtn.sweep.report runs/main --title "Main job: SmolLM2-135M-Instruct, rotten-tomatoes sentiment" --out runs/main/RESULTS.md \
    --note "Budget: 30 optimizer steps of 2 packed rows of 256 tokens (about 6 reviews per step), 100 test reviews, adapters on q_proj + v_proj of all 30 layers; each method at the learning rate the paper-style sweep chose for it on the sentiment validation split (experiments/paper_qtha/results/sentiment/selection.json); one seed. Every program runs the decoder layers as one scan, so train FLOPs (XLA count of the compiled step) count one layer: comparable between these rows, about 1/30 of the work."
cat runs/main/RESULTS.md
echo "outputs: runs/main (summary.md, results.csv, plots/, points/*/metrics.jsonl)"
exit "${status:-0}"
