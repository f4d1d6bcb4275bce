#!/usr/bin/env bash
# The paper-style comparison (README, "Reproduce the paper-style table"): both sweeps
# (sentiment and arithmetic, 8 variants x 3 seeds each, 60 steps per run; about 2 h on a
# 2-core CPU), then experiments/paper_qtha/RESULTS.md and results/<task>/ from the run outputs.
# Resumable: finished points are skipped, an interrupted one resumes from its checkpoint.
# Assumes scripts/setup.sh has been run (bash scripts/main.sh or scripts/test.sh do it).
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
.venv/bin/qtn assets
status=0
for task in sentiment arithmetic; do
    .venv/bin/qtn sweep "experiments/paper_qtha/sweep_${task}.yaml" "$@" || status=$?
    mkdir -p "experiments/paper_qtha/results/${task}"
    cp "runs/paper_qtha/${task}/"{results.jsonl,results.csv,summary.md} \
        "experiments/paper_qtha/results/${task}/"
done
.venv/bin/python -m qtn.sweep.report runs/paper_qtha/sentiment runs/paper_qtha/arithmetic \
    --title "circuit-MPO vs LoRA vs MPO on SmolLM2-135M-Instruct" \
    --out experiments/paper_qtha/RESULTS.md \
    --note "wall s is each run's own wall clock while other jobs (sweeps, tests, benchmarks) shared the 2-core CPU, and some runs were paused during a benchmark: not comparable between rows (train FLOPs are)." \
    --note "circuit-MPO is qtn's weight-space hybrid (method circuit_mpo, called qtha before the paper's architecture took that name). circuit-MPO-probs is its hardware path: the middle MPO core is an affine map of a 12-qubit circuit's basis-state probabilities |<k|U|0>|^2 (readout: probs), simulated exactly (no shot noise); the other circuit-MPO rows use the unitary readout (the circuit's gates are the core)."
exit "$status"
