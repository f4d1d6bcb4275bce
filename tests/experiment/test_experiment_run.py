"""run_training end to end on a tiny random Llama: outputs, determinism, resume, NaN guard."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qtn.experiment.run import run_training
from qtn.train import steps as steps_mod
from qtn.train.checkpoint import list_checkpoints
from qtn.train.loop import NonFiniteLossError
from qtn.train.metrics import read_metrics, results_table

TIMING = {"wall_time_s", "train_tokens_per_s", "compile_s", "train_s", "eval_s", "compile"}
ROW_TIMING = {"tokens_per_s", "step_time_s", "compiled"}


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in ROW_TIMING} for r in rows]


def test_run_writes_outputs_and_is_deterministic(run_config):
    a = run_training(run_config("a", train={"eval_every": 3}))
    out = run_config("a")["out_dir"]
    files = sorted(p.name for p in Path(out).iterdir())
    assert files == ["adapter", "config.yaml", "metrics.jsonl", "params.md", "results.json"]
    assert json.loads((Path(out) / "results.json").read_text()) == a
    assert a["method"] == "lora" and a["steps"] == 6
    assert a["train_flops"] > 0
    assert a["trainable_params"] == 2 * 2 * ((32 + 32) + (32 + 16))  # 2 layers, r=2, q, v
    assert a["metric_name"] == "accuracy" and 0.0 <= a["metric"] <= 1.0
    assert len(a["samples"]) == 8 and list(a)[-1] == "samples"  # val has 8 reviews
    assert a["metric"] == pytest.approx(np.mean([s["correct"] for s in a["samples"]]))
    assert {s["chosen"] for s in a["samples"]} <= {"positive", "negative"}
    assert 0.5 <= a["majority_baseline"] <= 1.0
    rows = read_metrics(f"{out}/metrics.jsonl")
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4, 5, 6]
    assert {"step", "loss", "lr", "grad_norm", "tokens_per_s"} <= set(train_rows[0])
    # every program was compiled before the first step: none during training
    assert not any(r["compiled"] for r in train_rows)
    assert a["compile"]["programs"] >= 2
    assert a["compile_s"] == pytest.approx(a["compile"]["total_s"], abs=1e-3)
    assert a["wall_time_s"] >= a["compile_s"] + a["train_s"] + a["eval_s"]
    assert [r["step"] for r in rows if "eval_loss" in r and not r.get("final")] == [3, 6]
    assert rows[-1]["final"] and rows[-1]["eval_loss"] == a["eval_loss"]
    assert "samples" not in rows[-1] and rows[-1]["majority_baseline"] == a["majority_baseline"]
    b = run_training(run_config("b", train={"eval_every": 3}))
    table = results_table([a, b]).splitlines()
    assert len(table) == 4 and "| tiny | lora | 448 | 25.0% |" in table[2]
    assert {k: v for k, v in a.items() if k not in TIMING} == {
        k: v for k, v in b.items() if k not in TIMING
    }


def test_resume_after_kill_matches_uninterrupted(run_config, monkeypatch):
    train = {"steps": 7, "checkpoint_every": 2, "grad_accum": 2}
    adapter = {"dropout": 0.1}  # the dropout RNG state must be restored too
    full = run_training(run_config("full", train=train, adapter=adapter))

    calls = {"n": 0}
    original = steps_mod.TrainStep.__call__

    def killed_midway(self, batch):
        calls["n"] += 1
        if calls["n"] == 11:  # micro-step 11 = inside optimizer step 6
            raise KeyboardInterrupt("simulated kill")
        return original(self, batch)

    cfg = run_config("resumed", train=train, adapter=adapter)
    monkeypatch.setattr(steps_mod.TrainStep, "__call__", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg)
    monkeypatch.setattr(steps_mod.TrainStep, "__call__", original)
    assert [p.name for p in list_checkpoints(f"{cfg['out_dir']}/checkpoints")] == [
        "step_00000002",
        "step_00000004",
    ]
    with pytest.raises(ValueError, match="already holds a run"):
        run_training(cfg)
    changed = {**cfg, "train": {**cfg["train"], "lr": 0.5}}
    with pytest.raises(ValueError, match=r"config changed since the checkpoint \(train.lr"):
        run_training(changed, resume=True)
    resumed = run_training(cfg, resume=True)
    for key in ("train_loss", "eval_loss", "metric"):
        assert resumed[key] == pytest.approx(full[key], abs=1e-6)
    assert resumed["steps"] == full["steps"] == 7
    assert resumed["train_tokens"] == full["train_tokens"]
    assert _strip(read_metrics(f"{cfg['out_dir']}/metrics.jsonl")) == _strip(
        read_metrics(f"{run_config('full')['out_dir']}/metrics.jsonl")
    )


def test_a_finished_training_resumed_under_another_eval_only_evaluates(run_config):
    """The final checkpoint of a run scored on val (loss only), resumed in a new folder with
    eval on test and the metric on: no step is trained again, the training's numbers carry
    over, and the evaluation equals a fresh test run's (how qtn sweep reuses a selection run).
    Any other change still refuses to resume."""
    train = {"checkpoint_every": 3}
    selection = run_training(run_config("val", train=train, eval={"metric": False}))
    assert selection["eval_split"] == "val" and selection["metric"] is None
    final = list_checkpoints(f"{run_config('val')['out_dir']}/checkpoints")[-1]
    assert final.name == "step_00000006"
    cfg = {**run_config("seeded", train=train, eval={"split": "test"}), "name": "seeded"}
    shutil.copytree(final, Path(cfg["out_dir"]) / "checkpoints" / final.name)
    other = {**cfg, "data": {**cfg["data"], "n_train": 20}}
    with pytest.raises(ValueError, match="config changed since the checkpoint"):
        run_training(other, resume=True)
    seeded = run_training(cfg, resume=True)
    fresh = run_training(run_config("fresh", train=train, eval={"split": "test"}))
    assert seeded["steps"] == 6 and seeded["eval_split"] == "test"
    assert seeded["train_loss"] == selection["train_loss"]
    rows = read_metrics(Path(cfg["out_dir"]) / "metrics.jsonl")
    assert [r for r in rows if "loss" in r] == [] and rows[-1]["final"]  # no step trained
    for key in ("train_loss", "eval_loss", "metric", "train_tokens", "train_flops"):
        assert seeded[key] == pytest.approx(fresh[key], abs=1e-6), key


def test_nan_loss_stops_and_keeps_last_good_checkpoint(run_config, monkeypatch):
    original = steps_mod.TrainStep.__call__
    calls = {"n": 0}

    def nan_at_step_4(self, batch):
        out = original(self, batch)
        calls["n"] += 1
        return {**out, "loss": float("nan")} if calls["n"] == 4 else out

    monkeypatch.setattr(steps_mod.TrainStep, "__call__", nan_at_step_4)
    cfg = run_config("nan", train={"checkpoint_every": 1})
    with pytest.raises(NonFiniteLossError, match=r"step 4 .*step_00000003"):
        run_training(cfg)
    assert [p.name for p in list_checkpoints(f"{cfg['out_dir']}/checkpoints")] == [
        "step_00000002",
        "step_00000003",
    ]


def test_no_adapter_run_only_evaluates(run_config):
    r = run_training(run_config("base", adapter=None))
    assert r["method"] == "none" and r["trainable_params"] == 0 and r["steps"] == 0
    assert r["train_loss"] is None
    assert r["eval_loss"] > 0


@pytest.mark.parametrize(
    "data, metric",
    [
        ({"task": "arithmetic", "n_train": 16, "n_eval": 4, "max_len": 64}, "exact_match"),
        ({"task": "hamlet", "max_len": 32}, "perplexity"),
    ],
)
def test_task_metrics(run_config, data, metric):
    r = run_training(
        run_config(
            metric, data=data, train={"steps": 1, "warmup_steps": 0}, eval={"max_new_tokens": 6}
        )
    )
    assert r["metric_name"] == metric and r["task"] == data["task"]
    if metric == "perplexity":
        assert r["metric"] == pytest.approx(np.exp(r["eval_loss"]), rel=1e-9)
        assert r["samples"] == [] and r["majority_baseline"] is None
    else:
        assert 0.0 <= r["metric"] <= 1.0
        assert [set(s) for s in r["samples"]] == [
            {"prompt", "generated", "answer", "label", "correct"}
        ] * 4
        assert r["metric"] == np.mean([s["correct"] for s in r["samples"]])
        assert r["samples"][0]["prompt"].startswith("Compute ")


def test_jsonl_choice_accuracy_run(run_config, tmp_path):
    """A word-label JSONL task scored by choice accuracy through the tiny model."""
    rows = [
        {"prompt": f"Review: {text} film.\nAnswer:", "completion": f" {label}"}
        for text, label in [("a great", "good"), ("a dull", "bad"), ("the best", "good")] * 6
    ]
    paths = {}
    for split, part in (("train", rows[:12]), ("val", rows[12:15]), ("test", rows[15:])):
        paths[f"{split}_path"] = str(tmp_path / f"{split}.jsonl")
        Path(paths[f"{split}_path"]).write_text("".join(json.dumps(r) + "\n" for r in part))
    data = {"task": "jsonl", "metric": "choice_accuracy", "max_len": 32, **paths}
    cfg = run_config("choice", data=data, train={"steps": 2, "warmup_steps": 0})
    cfg["data"].pop("n_train"), cfg["data"].pop("n_eval")
    r = run_training(cfg)
    assert r["task"] == "jsonl" and r["metric_name"] == "accuracy"
    assert 0.0 <= r["metric"] <= 1.0
    saved = json.loads((Path(cfg["out_dir"]) / "results.json").read_text())
    assert [s["label"] for s in saved["samples"]] == ["good", "bad", "good"]
    assert {s["chosen"] for s in saved["samples"]} <= {"bad", "good"}
    assert saved["metric"] == pytest.approx(np.mean([s["correct"] for s in saved["samples"]]))
    assert saved["majority_baseline"] == pytest.approx(2 / 3)


def test_signal_mid_step_checkpoints_then_resume_matches(run_config, monkeypatch):
    """SIGINT raised inside micro-step 5 (optimizer step 3): step 3 finishes, is checkpointed,
    Preempted is raised; the resumed run equals an uninterrupted one."""
    import signal

    from qtn.train.preemption import Preempted

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN in a shell's background job
    train = {"steps": 6, "grad_accum": 2}
    full = run_training(run_config("full", train=train))
    calls = {"n": 0}
    original = steps_mod.TrainStep.__call__

    def signalled(self, batch):
        calls["n"] += 1
        if calls["n"] == 5:
            signal.raise_signal(signal.SIGINT)
        return original(self, batch)

    cfg = run_config("stopped", train=train)
    monkeypatch.setattr(steps_mod.TrainStep, "__call__", signalled)
    with pytest.raises(Preempted, match="SIGINT received: stopped after step 3") as info:
        run_training(cfg)
    monkeypatch.setattr(steps_mod.TrainStep, "__call__", original)
    assert calls["n"] == 6 and info.value.step == 3
    assert [p.name for p in list_checkpoints(f"{cfg['out_dir']}/checkpoints")] == [
        "step_00000003"
    ]
    assert signal.getsignal(signal.SIGINT) == before  # handler restored
    resumed = run_training(cfg, resume=True)
    for key in ("train_loss", "eval_loss", "metric"):
        assert resumed[key] == pytest.approx(full[key], abs=1e-6)
