"""SIGTERM to a real `python -m qtn.cli train` process: the step in progress finishes, a
checkpoint is written, the process exits 75 with the command that resumes it, and the resumed
run ends with the same results as an uninterrupted one."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from qtn.experiment.run import run_training
from qtn.train.checkpoint import list_checkpoints
from qtn.train.preemption import PREEMPTED_EXIT_CODE

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "qtn_tests_tiny_llama", Path(__file__).parents[1] / "train" / "tiny_llama.py"
)
tiny_llama = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_llama)

STEPS = 120


def _train(config: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "qtn.cli", "train", "--config", str(config), "--out", str(out),
         *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO),
    )


def _wait_for_step(metrics: Path, step: int, proc: subprocess.Popen, timeout: float = 300):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if metrics.is_file():
            rows = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()]
            if any(r.get("step", 0) >= step for r in rows):
                return
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.02)
    raise TimeoutError(f"no step {step} in {metrics}")


@pytest.mark.slow
def test_sigterm_checkpoints_and_resume_matches(tmp_path):
    checkpoint = tiny_llama.build_tiny_checkpoint(tmp_path / "ckpt")
    config = tiny_llama.tiny_run_config(
        checkpoint, tmp_path / "ignored", train={"steps": STEPS, "log_every": 1}
    )
    del config["out_dir"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    full = run_training(path, out_dir=tmp_path / "full")

    out = tmp_path / "run"
    proc = _train(path, out)
    _wait_for_step(out / "metrics.jsonl", 2, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == PREEMPTED_EXIT_CODE, err[-3000:]
    assert "SIGTERM received: stopped after step" in err and "--resume" in err
    (ckpt,) = list_checkpoints(out / "checkpoints")  # no periodic ones: the preemption's own
    stopped = int(ckpt.name.split("_")[1])
    assert 2 <= stopped < STEPS and not (out / "results.json").exists()

    proc = _train(path, out, "--resume")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["steps"] == full["steps"] == STEPS
    for key in ("train_loss", "eval_loss", "metric"):
        assert resumed[key] == pytest.approx(full[key], abs=1e-6)
