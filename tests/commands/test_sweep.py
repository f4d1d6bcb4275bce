"""``qtn sweep``: end to end with a fake trainer (no model is trained)."""

import json
import sys
from pathlib import Path

import yaml

from qtn.cli import main

FAKE_TRAIN = Path(__file__).parents[1] / "sweep" / "fake_train.py"


def write_sweep_yaml(folder: Path, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(
        yaml.safe_dump({"seed": 0, "data": {"task": "sentiment"}, "adapter": {"method": "lora"}})
    )
    spec = {
        "base": "config.yaml",
        "out": str(folder / "out"),
        "grid": {"seed": [0, 1]},
        "points": [
            {"label": "LoRA r=8", "adapter.r": 8},
            {"label": "QTHA", "adapter.method": "qtha", "adapter.r": 2, "adapter.bond": 2},
            {"label": "QTHA", "adapter.method": "qtha", "adapter.r": 2, "adapter.bond": 4},
            {"label": "LoRA r=4", "adapter.r": 4},
        ],
        "command": [sys.executable, str(FAKE_TRAIN), "--config", "{config}", "--out", "{out}"],
        **extra,
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_sweep_runs_collects_and_plots(tmp_path, capsys):
    sweep = write_sweep_yaml(tmp_path / "exp")
    out = tmp_path / "exp" / "out"
    assert main(["sweep", str(sweep), "--jobs", "2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "8 done, 0 skipped, 0 failed" in printed
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["name"] == "exp" and len(manifest["points"]) == 8
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["done"] * 8
    assert [r["variant"] for r in rows[:4]] == ["LoRA r=8", "QTHA", "QTHA", "LoRA r=4"]
    assert (out / "results.csv").is_file() and (out / "summary.md").is_file()
    assert (out / "plots" / "pareto_eval_loss.png").is_file()
    assert (out / "plots" / "pareto_eval_loss.svg").is_file()
    assert (out / "plots" / "eval_loss_vs_adapter_bond.svg").is_file()
    summary = (out / "summary.md").read_text()
    assert "8 points: 8 done." in summary
    assert "QTHA (QTHA) at 25.0 % of LoRA r=8's trainable params" in summary
    # a second run skips everything
    assert main(["sweep", str(sweep), "--no-progress"]) == 0
    assert "0 done, 8 skipped, 0 failed" in capsys.readouterr().out


def test_dry_run_lists_points_and_runs_nothing(tmp_path, capsys):
    sweep = write_sweep_yaml(tmp_path / "exp")
    assert main(["sweep", str(sweep), "--dry-run", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert f"sweep exp: 8 points -> {tmp_path / 'o'}" in text
    assert text.count(" run      ") == 8
    assert '"adapter.bond": 4' in text and "--out" in text
    assert not (tmp_path / "o").exists()


def test_failures_give_exit_1_and_are_reported(tmp_path, capsys):
    sweep = write_sweep_yaml(tmp_path / "exp", set={"fake.fail": False})
    spec = yaml.safe_load(sweep.read_text())
    spec["points"][1]["fake.fail"] = True
    sweep.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(sweep), "--no-progress", "--no-plots"]) == 1
    assert "6 done, 0 skipped, 2 failed" in capsys.readouterr().out
    summary = (tmp_path / "exp" / "out" / "summary.md").read_text()
    assert "8 points: 6 done, 2 failed." in summary
    assert summary.count("exit code 3: ValueError: boom: bad point") == 2
    assert not (tmp_path / "exp" / "out" / "plots").exists()


def test_report_only(tmp_path, capsys):
    sweep = write_sweep_yaml(tmp_path / "exp")
    assert main(["sweep", str(sweep), "--report-only"]) == 2  # nothing to report on yet
    assert "no sweep folder" in capsys.readouterr().err
    assert main(["sweep", str(sweep), "--no-progress", "--no-plots"]) == 0
    (tmp_path / "exp" / "out" / "summary.md").unlink()
    assert main(["sweep", str(sweep), "--report-only", "--no-plots"]) == 0
    assert (tmp_path / "exp" / "out" / "summary.md").is_file()


def test_bad_spec_is_a_clean_error(tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text("grid: {seed: 3}\n")
    assert main(["sweep", str(path)]) == 2
    assert "grid.seed must be a non-empty list" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2


def test_address_needs_the_ray_backend(tmp_path, capsys):
    path = write_sweep_yaml(tmp_path / "s")
    assert main(["sweep", str(path), "--address", "h:6379", "--no-plots", "--no-progress"]) == 2
    assert "--address needs --backend ray" in capsys.readouterr().err
