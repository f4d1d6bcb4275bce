"""The runner with a fake trainer: runs, skips finished points, resumes interrupted ones, moves
stale folders aside, isolates failures, runs points in parallel."""

import json
import sys

import pytest

from qtn.sweep.grid import expand_points
from qtn.sweep.layout import read_json
from qtn.sweep.runner import CommandTemplate, log_tail, plan_point, run_points

BASE = {"seed": 0, "adapter": {"method": "lora", "target_modules": ["q_proj"]}}


def calls(folder):
    path = folder / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def run(points, root, template, **kw):
    return run_points(points, root, template=template, progress=False, **kw)


def test_default_command_is_qtn_train(tmp_path):
    argv = CommandTemplate().render(config=tmp_path / "c.yaml", out=tmp_path, name="p", resume=True)
    assert argv == [
        sys.executable,
        "-m",
        "qtn.cli",
        "train",
        "--config",
        str(tmp_path / "c.yaml"),
        "--out",
        str(tmp_path),
        "--resume",
    ]


def test_runs_every_point_then_skips_finished_ones(tmp_path, fake_template):
    points = expand_points(BASE, {"adapter.r": [2, 4], "seed": [0, 1]})
    result = run(points, tmp_path, fake_template)
    assert result.count("done") == 4 and result.ok
    for p in points:
        d = tmp_path / "points" / p.name
        state = read_json(d / "point.json")
        assert state["status"] == "done" and state["config_hash"] == p.config_hash
        assert state["attempts"] == 1 and state["error"] is None
        assert (d / "train_config.yaml").is_file() and (d / "train.log").is_file()
        results = read_json(d / "results.json")
        assert results["trainable_params"] == 100 * p.overrides["adapter.r"]
        assert results["name"] == p.name and results["seed"] == p.overrides["seed"]
        assert len(calls(d)) == 1 and "--resume" not in calls(d)[0]["argv"]
    again = run(points, tmp_path, fake_template)
    assert again.count("skipped") == 4
    assert all(len(calls(tmp_path / "points" / p.name)) == 1 for p in points)
    assert [plan_point(p, tmp_path).action for p in points] == ["skip"] * 4


def test_interrupted_point_resumes_from_its_checkpoint(tmp_path, fake_template):
    (p,) = expand_points(BASE, None, [{"fake.crash_without_resume": True}])
    first = run([p], tmp_path, fake_template)
    d = tmp_path / "points" / p.name
    assert first.count("failed") == 1
    assert (d / "checkpoints").is_dir() and not (d / "results.json").exists()
    assert plan_point(p, tmp_path).action == "resume"
    second = run([p], tmp_path, fake_template)
    assert second.count("done") == 1
    argvs = [c["argv"] for c in calls(d)]
    assert "--resume" not in argvs[0] and argvs[1][-1] == "--resume"
    state = read_json(d / "point.json")
    assert state["attempts"] == 2 and state["resumed"] is True and state["status"] == "done"
    assert read_json(d / "results.json")["resumed"] is True
    assert not (d / "error.txt").exists()


def test_killed_sweep_point_marked_running_resumes(tmp_path, fake_template):
    (p,) = expand_points(BASE, {"adapter.r": [4]})
    d = tmp_path / "points" / p.name
    (d / "checkpoints" / "step_00000010").mkdir(parents=True)
    (d / "point.json").write_text(
        json.dumps({"name": p.name, "config_hash": p.config_hash, "status": "running"})
    )
    assert plan_point(p, tmp_path).action == "resume"
    assert run([p], tmp_path, fake_template).count("done") == 1
    assert calls(d)[0]["argv"][-1] == "--resume"


def test_finished_run_with_sweep_killed_before_bookkeeping_is_skipped(tmp_path, fake_template):
    (p,) = expand_points(BASE, {"adapter.r": [4]})
    d = tmp_path / "points" / p.name
    d.mkdir(parents=True)
    (d / "point.json").write_text(
        json.dumps({"name": p.name, "config_hash": p.config_hash, "status": "running"})
    )
    (d / "results.json").write_text("{}")
    assert plan_point(p, tmp_path).action == "skip"


def test_changed_config_moves_the_old_folder_aside(tmp_path, fake_template):
    (old,) = expand_points(BASE, {"adapter.r": [4]}, common={"train.steps": 5})
    (new,) = expand_points(BASE, {"adapter.r": [4]}, common={"train.steps": 6})
    assert old.name == new.name and old.config_hash != new.config_hash
    run([old], tmp_path, fake_template)
    plan = plan_point(new, tmp_path)
    assert plan.action == "run" and plan.stale_hash == old.config_hash
    assert run([new], tmp_path, fake_template).count("done") == 1
    aside = tmp_path / "points" / f"{old.name}.stale-{old.config_hash[:8]}"
    assert read_json(aside / "point.json")["config_hash"] == old.config_hash
    state = read_json(tmp_path / "points" / new.name / "point.json")
    assert state["config_hash"] == new.config_hash and state["attempts"] == 1


def test_a_failing_point_is_recorded_and_does_not_stop_the_others(tmp_path, fake_template):
    points = expand_points(
        BASE, None, [{"adapter.r": 2}, {"adapter.r": 3, "fake.fail": True}, {"adapter.r": 4}]
    )
    result = run(points, tmp_path, fake_template, jobs=2)
    assert [o.status for o in result.outcomes] == ["done", "failed", "done"]
    assert not result.ok
    bad = result.outcomes[1]
    assert bad.returncode == 3 and bad.error == "exit code 3: ValueError: boom: bad point"
    d = tmp_path / "points" / points[1].name
    state = read_json(d / "point.json")
    assert state["status"] == "failed" and state["error"] == bad.error
    assert state["log_tail"][-2:] == [
        "Traceback (most recent call last):",
        "ValueError: boom: bad point",
    ]
    assert "step 2 loss 1.5" in state["log_tail"]  # carriage returns split lines
    assert (d / "error.txt").read_text().startswith(bad.error)
    # a re-run retries only the failed point (with --resume)
    again = run(points, tmp_path, fake_template)
    assert [o.status for o in again.outcomes] == ["skipped", "failed", "skipped"]
    assert calls(d)[1]["argv"][-1] == "--resume"
    assert read_json(d / "point.json")["attempts"] == 2


def test_jobs_2_runs_points_concurrently(tmp_path, fake_template):
    points = expand_points(BASE, {"adapter.r": [1, 2]}, common={"fake.sleep": 1.0})
    result = run(points, tmp_path, fake_template, jobs=2)
    assert result.count("done") == 2
    (a,), (b,) = (calls(tmp_path / "points" / p.name) for p in points)
    assert a["start"] < b["end"] and b["start"] < a["end"]  # the runs overlapped


def test_missing_results_and_unstartable_command_and_timeout(tmp_path):
    (p,) = expand_points(BASE)
    quiet = CommandTemplate((sys.executable, "-c", "pass"))
    out = run([p], tmp_path / "a", quiet)
    assert out.outcomes[0].error == "exit code 0 but no results.json was written"
    missing = CommandTemplate((str(tmp_path / "no-such-program"),))
    out = run([p], tmp_path / "b", missing)
    assert out.outcomes[0].error.startswith("could not start")
    slow = CommandTemplate((sys.executable, "-c", "import time; time.sleep(30)"))
    out = run([p], tmp_path / "c", slow, timeout_s=0.5)
    assert out.outcomes[0].error == "timed out after 0.5 s"


def test_env_reaches_the_run(tmp_path):
    (p,) = expand_points(BASE)
    code = (
        "import os, sys, pathlib; "
        "pathlib.Path(sys.argv[1], 'results.json').write_text(os.environ['QTN_SWEEP_TEST'])"
    )
    template = CommandTemplate((sys.executable, "-c", code, "{out}"))
    assert run([p], tmp_path, template, env={"QTN_SWEEP_TEST": "42"}).ok
    assert (tmp_path / "points" / p.name / "results.json").read_text() == "42"


def test_log_tail(tmp_path):
    log = tmp_path / "x.log"
    log.write_bytes(b"a\nb\r c\n\n" + b"".join(b"%d\n" % i for i in range(30)))
    assert log_tail(log, n=3) == ["27", "28", "29"]
    assert log_tail(log, 0, 100)[:3] == ["a", "b", " c"]
    assert log_tail(tmp_path / "missing") == []


def test_jobs_must_be_positive(tmp_path, fake_template):
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        run([], tmp_path, fake_template, jobs=0)
