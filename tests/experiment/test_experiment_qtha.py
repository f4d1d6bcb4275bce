"""run_training with the paper's QTHA on a tiny random Llama: a run killed mid-way and resumed
from its checkpoint ends where the uninterrupted run ends."""

import pytest

from qtn.experiment.run import run_training
from qtn.train import steps as steps_mod
from qtn.train.checkpoint import list_checkpoints

ADAPTER = {
    "method": "qtha",
    "target_modules": ["q_proj", "v_proj"],
    "r": 3,
    "bottleneck": 16,
    "mpo_cores": 2,
    "mpo_ranks": 4,
    "qnn_layers": 2,
}


def test_qtha_resume_after_kill_matches_uninterrupted(run_config, monkeypatch):
    train = {"steps": 4, "checkpoint_every": 2}
    full = run_training(run_config("full", adapter=ADAPTER, train=train))
    assert full["method"] == "qtha" and full["steps"] == 4
    original = steps_mod.TrainStep.__call__
    calls = {"n": 0}

    def killed_at_step_3(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated kill")
        return original(self, batch)

    cfg = run_config("resumed", adapter=ADAPTER, train=train)
    monkeypatch.setattr(steps_mod.TrainStep, "__call__", killed_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg)
    monkeypatch.setattr(steps_mod.TrainStep, "__call__", original)
    assert [p.name for p in list_checkpoints(f"{cfg['out_dir']}/checkpoints")] == [
        "step_00000002"
    ]
    resumed = run_training(cfg, resume=True)
    for key in ("train_loss", "eval_loss", "metric"):
        assert resumed[key] == pytest.approx(full[key], abs=1e-6)
    assert resumed["trainable_params"] == full["trainable_params"]
