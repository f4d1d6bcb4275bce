"""``qtn sweep``: end to end with a fake trainer (no model is trained)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
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
            # the fake trainer derives its numbers from adapter.r (not a circuit_mpo option)
            {"label": "circuit-MPO", "adapter.method": "circuit_mpo", "adapter.r": 2,
             "adapter.bond": 2},
            {"label": "circuit-MPO", "adapter.method": "circuit_mpo", "adapter.r": 2,
             "adapter.bond": 4},
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
    variants = ["LoRA r=8", "circuit-MPO", "circuit-MPO", "LoRA r=4"]
    assert [r["variant"] for r in rows[:4]] == variants
    assert (out / "results.csv").is_file() and (out / "summary.md").is_file()
    assert (out / "plots" / "pareto_eval_loss.png").is_file()
    assert (out / "plots" / "pareto_eval_loss.svg").is_file()
    assert (out / "plots" / "eval_loss_vs_adapter_bond.svg").is_file()
    summary = (out / "summary.md").read_text()
    assert "8 points: 8 done." in summary
    assert "circuit-MPO (circuit-MPO) at 25.0 % of LoRA r=8's trainable params" in summary
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


def test_select_chooses_lr_on_val_then_runs_seeds_on_test(tmp_path, capsys):
    """Stage 1 runs every (variant, lr) at seed 0 on val; stage 2 runs each variant's best lr
    (the fake trainer's metric peaks at 1e-3) for every seed, on the base's split."""
    select = {"key": "train.lr", "values": [1e-4, 1e-3, 1e-2], "split": "val", "by": "metric",
              "set": {"train.steps": 3}}
    sweep = write_sweep_yaml(tmp_path / "exp", select=select)
    spec = yaml.safe_load(sweep.read_text())
    spec["points"] = spec["points"][:1] + [{"label": "none", "adapter": None}]
    sweep.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "exp" / "out"
    assert main(["sweep", str(sweep), "--no-progress"]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "select train.lr on val: 3 done" in printed  # the no-adapter point is not selected
    assert "warning" not in captured.err  # 1e-3 is inside the grid
    selection = json.loads((out / "selection.json").read_text())
    assert selection["variants"]["LoRA r=8"]["value"] == 1e-3
    stage1 = [json.loads(x) for x in (out / "select" / "results.jsonl").read_text().splitlines()]
    assert {r["eval_split"] for r in stage1} == {"val"} and {r["seed"] for r in stage1} == {0}
    assert {r["train.steps"] for r in stage1} == {3}  # select.set reaches the selection runs
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["eval_split"] for r in rows} == {"test"}
    lora = [r for r in rows if r["variant"] == "LoRA r=8"]
    assert [r["train.lr"] for r in lora] == [1e-3, 1e-3] and [r["seed"] for r in lora] == [0, 1]
    # resumable: a second call runs nothing new
    assert main(["sweep", str(sweep), "--no-progress"]) == 0
    again = capsys.readouterr().out
    assert "0 done, 3 skipped" in again and "0 done, 4 skipped, 0 failed" in again


def _select_sweep(tmp_path, select, **extra):
    """A select sweep of LoRA r=8 and no adapter, seeds 0 and 1, the fake trainer writing
    final checkpoints."""
    sweep = write_sweep_yaml(tmp_path / "exp", select=select, **extra)
    spec = yaml.safe_load(sweep.read_text())
    spec["points"] = spec["points"][:1] + [{"label": "none", "adapter": None}]
    spec["set"] = {"fake.checkpoint": True}
    sweep.write_text(yaml.safe_dump(spec, sort_keys=False))
    return sweep, tmp_path / "exp" / "out"


def _calls(out):
    """Every fake-trainer call under a sweep folder: {point folder name: [argv, ...]}."""
    return {
        f.parent.name: [json.loads(x)["argv"] for x in f.read_text().splitlines()]
        for f in out.rglob("calls.jsonl")
    }


def test_local_search_runs_fewer_points_seeds_stage_2_and_a_fresh_clone_restores_all(
        tmp_path, capsys):
    """search: local walks the grid (the fake metric peaks at 1e-3) with 4 of its 6 values;
    stage 2's seed-0 run starts from the selection run's final checkpoint and only evaluates;
    with keep:, deleting the run folder (a fresh clone) reruns nothing."""
    grid = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    select = {"key": "train.lr", "values": grid, "split": "val", "by": "metric",
              "search": "local", "start": 1e-4}
    keep = tmp_path / "exp" / "kept"
    sweep, out = _select_sweep(tmp_path, select, keep=str(keep))
    assert main(["sweep", str(sweep), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    selection = json.loads((out / "selection.json").read_text())
    lora = selection["variants"]["LoRA r=8"]
    assert lora["value"] == 1e-3 and selection["search"] == "local"
    assert sorted(float(v) for v in lora["scores"]) == [1e-5, 1e-4, 1e-3, 1e-2]  # not 1e-6, 1e-1
    stage1 = [json.loads(x) for x in (out / "select" / "results.jsonl").read_text().splitlines()]
    assert len(stage1) == 4 and {r["status"] for r in stage1} == {"done"}
    assert "2 point(s) to run" not in printed and "1 point(s) to run" in printed  # round 2
    # stage 2: seed 0 of LoRA reuses the selection training, seed 1 trains
    rows = {(r["variant"], r["seed"]): r
            for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert "1 point(s) start from the finished training" in printed
    seeded, trained = rows[("LoRA r=8", 0)], rows[("LoRA r=8", 1)]
    assert seeded["resumed"] and seeded["from_checkpoint"] == ["step_00000003"]
    assert seeded["eval_split"] == "test" and not trained["resumed"]
    state = json.loads((out / "points" / seeded["point"] / "point.json").read_text())
    assert state["seeded_from"].endswith(stage1[[r["train.lr"] for r in stage1].index(1e-3)]
                                          ["point"])
    assert (keep / "select" / "points").is_dir() and len(list((keep / "points").iterdir())) == 4
    assert not list(keep.rglob("checkpoints"))  # small files only
    # a fresh clone: the run folder is gone, the kept copies restore every point
    before = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    shutil.rmtree(out)
    assert main(["sweep", str(sweep), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert _calls(out) == {}  # nothing ran again
    assert "4 finished point(s) restored" in printed
    after = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert after["metric"] == before["metric"] and after["point"] == before["point"]
    assert json.loads((out / "selection.json").read_text())["variants"] == selection["variants"]


def test_kept_points_of_a_changed_config_run_again(tmp_path, capsys):
    keep = tmp_path / "exp" / "kept"
    sweep = write_sweep_yaml(tmp_path / "exp", keep=str(keep), grid={"seed": [0]})
    out = tmp_path / "exp" / "out"
    assert main(["sweep", str(sweep), "--no-progress"]) == 0
    assert len(list((keep / "points").iterdir())) == 4
    shutil.rmtree(out)
    spec = yaml.safe_load(sweep.read_text())
    spec["set"] = {"train.steps": 9}  # every point's config hash changes
    sweep.write_text(yaml.safe_dump(spec, sort_keys=False))
    capsys.readouterr()
    assert main(["sweep", str(sweep), "--no-progress"]) == 0
    assert "restored" not in capsys.readouterr().out and len(_calls(out)) == 4
    hashes = {json.loads((d / "point.json").read_text())["config_hash"]
              for d in (keep / "points").iterdir()}
    assert hashes == {json.loads((d / "point.json").read_text())["config_hash"]
                      for d in (out / "points").iterdir()}  # the kept copies follow


def test_select_refuses_a_variant_grid(tmp_path, capsys):
    select = {"key": "train.lr", "values": [1e-4, 1e-3]}
    sweep = write_sweep_yaml(tmp_path / "exp", select=select, grid={"train.steps": [2, 4]})
    assert main(["sweep", str(sweep), "--no-progress"]) != 0
    assert "grid may hold seed keys" in capsys.readouterr().err


def test_address_needs_the_ray_backend(tmp_path, capsys):
    path = write_sweep_yaml(tmp_path / "s")
    assert main(["sweep", str(path), "--address", "h:6379", "--no-plots", "--no-progress"]) == 2
    assert "--address needs --backend ray" in capsys.readouterr().err


def test_sigterm_to_the_sweep_stops_its_points_and_a_rerun_resumes(tmp_path):
    """SIGTERM to the sweep process alone (as a cluster or `kill` sends it): the running point
    gets it (checkpoints, exits 75), no other point starts, the sweep exits 75; rerunning
    resumes that point with --resume and runs the rest. No point process is left behind."""
    hold = tmp_path / "hold"  # while it exists, a fresh (not resumed) point waits for a signal
    hold.write_text("")
    sweep = write_sweep_yaml(tmp_path / "exp", set={"fake.wait_for_signal": str(hold)})
    out = tmp_path / "exp" / "out" / "points"
    repo = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "qtn.cli", "sweep", str(sweep), "--no-progress", "--no-plots"]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    deadline = time.monotonic() + 120
    while not list(out.glob("*/started")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    (started,) = list(out.glob("*/started"))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err[-2000:]
    assert "sweep stopped by SIGTERM: 1 running point(s) interrupted" in err
    assert "7 not started; rerun the same command" in err
    point = started.parent
    assert (point / "checkpoints" / "step_00000001").is_dir()  # the trainer got the signal
    state = json.loads((point / "point.json").read_text())
    assert state["status"] == "interrupted" and state["returncode"] == 75
    with pytest.raises(ProcessLookupError):  # the trainer is gone
        os.kill(int(started.read_text()), 0)
    assert [p.name for p in out.iterdir()] == [point.name]  # nothing else started

    hold.unlink()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "8 done, 0 skipped, 0 failed" in done.stdout
    resumed = [json.loads(x) for x in (point / "calls.jsonl").read_text().splitlines()]
    assert "--resume" in resumed[-1]["argv"]
