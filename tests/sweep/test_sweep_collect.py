"""Collection of point folders into rows, results.csv and results.jsonl."""

import csv
import json

from sweep_helpers import write_point, write_sweep

from qtn.sweep.collect import collect, point_folders, read_rows, write_manifest, write_results
from qtn.sweep.grid import expand_points


def test_rows_from_hand_written_points(tmp_path):
    write_sweep(tmp_path)
    rows = collect(tmp_path)
    assert len(rows) == 16
    assert [r["index"] for r in rows] == list(range(16))
    assert sum(r["status"] == "done" for r in rows) == 15
    lora = rows[3]
    assert lora["variant"] == "LoRA r=8" and lora["adapter.r"] == 8 and lora["seed"] == 0
    assert lora["train_loss"] == 1.0 and lora["method"] == "lora" and lora["error"] is None
    failed = rows[-1]
    assert failed["status"] == "failed" and failed["error"] == "exit code 3: ValueError: boom"
    assert failed["method"] == "qtha" and failed["task"] == "sentiment"  # from its config
    assert "train_loss" not in failed and failed["log_tail"][-1] == failed["error"]
    assert failed["dir"] == "points/sentiment-QTHA_small-s3"


def test_results_files(tmp_path):
    write_sweep(tmp_path)
    rows = collect(tmp_path)
    csv_path, jsonl_path = write_results(rows, tmp_path)
    assert read_rows(jsonl_path) == json.loads(json.dumps(rows))
    with open(csv_path) as f:
        table = list(csv.DictReader(f))
    assert len(table) == 16
    assert "log_tail" not in table[0]
    assert table[0]["point"] == "sentiment-none-s0" and table[0]["adapter.method"] == "none"
    assert float(table[4]["train_loss"]) == 1.1
    assert table[-1]["train_loss"] == "" and table[-1]["status"] == "failed"
    assert table[9]["train_flops"] == "1000000000.0" and table[0]["train_flops"] == ""


def test_manifest_limits_and_stale_folders_are_ignored(tmp_path):
    points = expand_points({}, {"seed": [0, 1]})
    for p in points:
        write_point(tmp_path, p.name, p.index, overrides=dict(p.overrides), status="running")
    stale = write_point(tmp_path, "old.stale-12345678", 9)
    state = json.loads((stale / "point.json").read_text())
    (stale / "point.json").write_text(json.dumps({**state, "name": "old"}))
    assert [f.name for f in point_folders(tmp_path)] == [p.name for p in points]
    write_manifest(tmp_path, "s", points[:1], None)
    assert [r["point"] for r in collect(tmp_path)] == [points[0].name]
    assert collect(tmp_path)[0]["status"] == "running"
