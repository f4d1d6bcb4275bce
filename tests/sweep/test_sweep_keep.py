"""The sweep's kept record of finished points (qtn.sweep.keep): only finished points are kept,
a kept copy restores over an unfinished run folder (moved aside, not deleted), and a copy cut
short (no results.json) does not count."""

import json

from qtn.sweep.grid import expand_points
from qtn.sweep.keep import is_kept, keep_point, keep_points, kept_dir, restore_points
from qtn.sweep.layout import point_dir


def _points():
    return expand_points({"seed": 0}, {"seed": [0, 1]}, [], {}, ("seed",))


def _finish(root, point, *, results=True):
    d = point_dir(root, point.name)
    d.mkdir(parents=True, exist_ok=True)
    (d / "point.json").write_text(json.dumps(
        {"name": point.name, "config_hash": point.config_hash, "status": "done"}))
    (d / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    (d / "checkpoints").mkdir(exist_ok=True)
    if results:
        (d / "results.json").write_text(json.dumps({"seed": point.config["seed"]}))
    return d


def test_keep_and_restore(tmp_path):
    root, keep = tmp_path / "run", tmp_path / "kept"
    done, unfinished = _points()
    _finish(root, done)
    _finish(root, unfinished, results=False)
    assert keep_points([done, unfinished], root, keep) == [done.name]
    assert is_kept(done, keep) and not is_kept(unfinished, keep)
    assert sorted(p.name for p in kept_dir(keep, done.name).iterdir()) == [
        "metrics.jsonl", "point.json", "results.json"]  # no checkpoints
    assert keep_points([done], root, keep) == []  # already kept
    # a fresh clone with an interrupted folder of the finished point: restored over it
    (point_dir(root, done.name) / "results.json").unlink()
    assert restore_points([done, unfinished], root, keep) == [done.name]
    assert json.loads((point_dir(root, done.name) / "results.json").read_text()) == {"seed": 0}
    moved = [p.name for p in point_dir(root, done.name).parent.iterdir() if ".stale-" in p.name]
    assert len(moved) == 1 and moved[0].startswith(done.name)
    assert restore_points([done], root, keep) == []  # finished: nothing to do


def test_a_copy_cut_short_or_of_another_config_is_not_kept(tmp_path):
    root, keep = tmp_path / "run", tmp_path / "kept"
    point = _points()[0]
    assert keep_point(_finish(root, point, results=False), keep) is None
    kept = kept_dir(keep, point.name)
    kept.mkdir(parents=True)
    (kept / "point.json").write_text(json.dumps(
        {"name": point.name, "config_hash": point.config_hash, "status": "done"}))
    assert not is_kept(point, keep)  # no results.json: the copy was cut short
    (kept / "results.json").write_text("{}")
    assert is_kept(point, keep)
    (kept / "point.json").write_text(json.dumps(
        {"name": point.name, "config_hash": "another", "status": "done"}))
    assert not is_kept(point, keep) and restore_points([point], tmp_path / "fresh", keep) == []
