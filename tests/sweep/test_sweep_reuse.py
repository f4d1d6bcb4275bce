"""Seeding a point with another point's finished training (qtn.sweep.reuse): only an
evaluation-only difference qualifies, and only a run whose last checkpoint is its last step."""

import json

from qtn.sweep.grid import expand_points
from qtn.sweep.layout import point_dir
from qtn.sweep.reuse import SEEDED, final_checkpoint, seed_points, training_key


def _point(**overrides):
    base = {"seed": 0, "train": {"steps": 4}, "eval": {"split": "test"}}
    return expand_points(base, {}, [overrides], {}, ("seed",))[0]


def _finished(root, point, checkpoint_steps):
    d = point_dir(root, point.name)
    for step in checkpoint_steps:
        c = d / "checkpoints" / f"step_{step:08d}"
        c.mkdir(parents=True)
        (c / "state.safetensors").write_bytes(b"")
        (c / "state.json").write_text("{}")
    (d / "point.json").write_text(json.dumps({"config_hash": point.config_hash}))
    (d / "results.json").write_text(json.dumps({"steps": 4}))
    (d / "metrics.jsonl").write_text('{"step": 4, "loss": 1.0}\n{"step": 4, "final": true}\n')
    return d


def test_training_key_ignores_evaluation_only():
    test = _point()
    assert training_key(test.config) == training_key(_point(**{"eval.split": "val"}).config)
    assert training_key(test.config) != training_key(_point(**{"train.lr": 1.0}).config)


def test_seed_points(tmp_path):
    source, target = _point(**{"eval.split": "val"}), _point()
    other = _point(**{"train.lr": 1.0})
    src = _finished(tmp_path / "select", source, [2, 4])
    assert final_checkpoint(src).name == "step_00000004"
    seeded = seed_points([target, other], tmp_path / "final", [source], tmp_path / "select")
    assert seeded == {target.name: source.name}
    d = point_dir(tmp_path / "final", target.name)
    state = json.loads((d / "point.json").read_text())
    assert state["status"] == SEEDED and state["config_hash"] == target.config_hash
    assert [p.name for p in (d / "checkpoints").iterdir()] == ["step_00000004"]
    assert (d / "metrics.jsonl").read_text() == '{"step": 4, "loss": 1.0}\n'  # no final row
    assert seed_points([target], tmp_path / "final", [source], tmp_path / "select") == {}


def test_no_seed_without_the_last_steps_checkpoint(tmp_path):
    source, target = _point(**{"eval.split": "val"}), _point()
    _finished(tmp_path / "select", source, [2])  # the last checkpoint is older than step 4
    assert seed_points([target], tmp_path / "final", [source], tmp_path / "select") == {}
    assert not point_dir(tmp_path / "final", target.name).exists()
