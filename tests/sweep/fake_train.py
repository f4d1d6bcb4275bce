"""A stand-in for ``qtn train`` in runner tests: same CLI shape, no model, instant.

``python fake_train.py --config C --out O [--resume]`` reads the YAML config and writes
``O/results.json`` with numbers derived from it. A ``fake:`` section steers it:
``fail: true`` exits 3 with an error; ``sleep: s`` waits; ``crash_without_resume: true``
writes a checkpoint and dies unless ``--resume`` is passed; ``wait_for_signal: PATH`` (while
that file exists, without ``--resume``) writes ``O/started`` (its pid) and waits up to 60 s for
SIGTERM, on which it writes a checkpoint and exits 75 as ``qtn train`` does;
``checkpoint: true`` writes the final checkpoint of ``train.steps`` (default 3) as qtn train's
files, and ``results.json`` says ``steps`` and the checkpoints it started from. Each call is
appended to ``O/calls.jsonl`` (argv, start and end times).
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import yaml


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()
    t0 = time.time()
    config = yaml.safe_load(Path(args.config).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fake = config.get("fake") or {}
    hold = fake.get("wait_for_signal")
    if hold and Path(hold).exists() and not args.resume:
        def preempted(signum, frame):
            (out / "checkpoints" / "step_00000001").mkdir(parents=True, exist_ok=True)
            print(f"{signal.Signals(signum).name} received: stopped after step 1", flush=True)
            sys.exit(75)

        signal.signal(signal.SIGTERM, preempted)
        (out / "started").write_text(str(os.getpid()))
        time.sleep(60)
        return 4  # no signal came
    time.sleep(float(fake.get("sleep", 0)))
    call = {"argv": sys.argv[1:], "start": t0, "end": time.time()}
    with open(out / "calls.jsonl", "a") as f:
        f.write(json.dumps(call) + "\n")
    print("step 1 loss 2.0\rstep 2 loss 1.5", flush=True)
    if fake.get("fail"):
        print("Traceback (most recent call last):", file=sys.stderr)
        print("ValueError: boom: bad point", file=sys.stderr)
        return 3
    if fake.get("crash_without_resume") and not args.resume:
        (out / "checkpoints" / "step_00000001").mkdir(parents=True, exist_ok=True)
        print("killed", file=sys.stderr)
        return 137
    adapter = config.get("adapter") or {}
    r = int(adapter.get("r", 0) or 0)
    seed = int(config.get("seed", 0))
    lr = (config.get("train") or {}).get("lr")
    # with a learning rate, the metric peaks at lr = 1e-3 (for select tests)
    lr_penalty = 0.0 if lr is None else 0.01 * abs(__import__("math").log10(float(lr) / 1e-3))
    results = {
        "name": config.get("name"),
        "method": adapter.get("method", "none"),
        "task": (config.get("data") or {}).get("task", "sentiment"),
        "seed": seed,
        "trainable_params": 100 * r,
        "lora_r8_params": 800,
        "train_loss": 1.0 + 1.0 / (1 + r) + 0.01 * seed,
        "eval_loss": 1.5 + 1.0 / (1 + r),
        "metric_name": "accuracy",
        "metric": 0.5 + 0.01 * r - lr_penalty,
        "eval_split": (config.get("eval") or {}).get("split", "test"),
        "wall_time_s": 0.1,
        "resumed": args.resume,
        "steps": int((config.get("train") or {}).get("steps", 3)),
        "from_checkpoint": sorted(p.name for p in (out / "checkpoints").glob("step_*")),
    }
    if fake.get("checkpoint"):
        final = out / "checkpoints" / f"step_{results['steps']:08d}"
        final.mkdir(parents=True, exist_ok=True)
        (final / "state.safetensors").write_bytes(b"")
        (final / "state.json").write_text("{}")
    (out / "results.json").write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
