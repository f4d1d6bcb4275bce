"""Every committed experiment config and sweep is valid as written: a typo in a key or a value
fails here, not minutes into a run (each sweep point's merged config goes through the same
validation as ``qtn train``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qtn.data import political
from qtn.data.pipeline import DataConfig
from qtn.experiment.config import RunConfig
from qtn.sweep.spec import load_sweep

REPO = Path(__file__).resolve().parents[2]
SWEEPS = sorted(REPO.glob("experiments/**/sweep*.yaml"))
# data files a run script writes before its sweep (experiments/paper_qtha/run.sh)
POLITICAL_DATA = "runs/paper_qtha/political_data"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A folder laid out as the repository root after run.sh's data step: ``experiments``
    linked, the political JSONL task written where the sweeps read it (a fresh clone has no
    ``runs/``)."""
    root = tmp_path_factory.mktemp("checkout")
    (root / "experiments").symlink_to(REPO / "experiments")
    assert political.main(["--out", str(root / POLITICAL_DATA)]) == 0
    return root


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_point_of_a_committed_sweep_is_a_valid_run_config(path, run_dir, monkeypatch):
    monkeypatch.chdir(run_dir)
    points = load_sweep(path).expand()
    assert points, f"{path} expands to no point"
    for point in points:
        config = RunConfig.from_dict(point.config)
        errors = DataConfig.from_dict(config.data).check()
        assert not errors, f"{path}: {point.label or point.name}: {errors}"


def test_the_main_job_packs_scans_and_uses_each_methods_selected_rate():
    """The main job's budget (issue 13): one packed training shape, scanned decoder layers,
    and the learning rates the paper-style sweep chose on the sentiment validation split."""
    spec = load_sweep(REPO / "experiments/main/sweep.yaml")
    base = RunConfig.from_dict(spec.base)
    assert base.data["mode"] == "pack" and base.train.scan_layers
    selection = yaml.safe_load(
        (REPO / "experiments/paper_qtha/results/sentiment/selection.json").read_text()
    )["variants"]
    chosen = {"QTHA ABC r=4": "QTHA ABC r=4", "LoRA r=8": "LoRA r=8",
              "circuit-MPO": "circuit-MPO b=8 L=4"}
    rates = {p.label: p.config["train"]["lr"] for p in spec.expand()}
    for label, variant in chosen.items():
        assert rates[label] == pytest.approx(selection[variant]["value"]), label
