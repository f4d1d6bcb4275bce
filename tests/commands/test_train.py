"""`qtn train` / `qtn eval` / `qtn export` on a tiny random Llama."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from qtn.cli import main

_spec = importlib.util.spec_from_file_location(
    "qtn_tests_tiny_llama", Path(__file__).parents[1] / "train" / "tiny_llama.py"
)
tiny_llama = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_llama)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A config file and the output folder of one `qtn train` run on it."""
    root = tmp_path_factory.mktemp("cli")
    checkpoint = tiny_llama.build_tiny_checkpoint(root / "ckpt")
    config = tiny_llama.tiny_run_config(checkpoint, root / "ignored")
    del config["out_dir"]
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = root / "run"
    rc = main(["train", "--config", str(path), "--set", "train.steps=3", "--out", str(out)])
    assert rc == 0
    return path, out, json.loads((out / "results.json").read_text())


def test_train_prints_table_and_writes_results(trained, capsys):
    path, out, results = trained
    assert results["steps"] == 3 and results["method"] == "lora"
    assert (out / "adapter" / "adapter.safetensors").is_file()
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["steps"] == 3


def test_invalid_config_fails_before_loading(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {"model": {"path": str(tmp_path / "missing")}, "train": {"stepz": 3, "lr": -1}}
        )
    )
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown key train.stepz (did you mean train.steps?)" in err
    assert "train.lr must be > 0" in err


def test_check_only_prints_config(trained, capsys):
    path, _, _ = trained
    assert main(["train", "--config", str(path), "--set", "adapter.r=3", "--check"]) == 0
    assert json.loads(capsys.readouterr().out)["adapter"]["r"] == 3


def test_eval_saved_adapter_reproduces_results(trained, capsys):
    path, out, results = trained
    assert main(["eval", "--config", str(path), "--adapter", str(out / "adapter"), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["method"] == "lora" and ev["trainable_params"] == results["trainable_params"]
    assert ev["eval_loss"] == pytest.approx(results["eval_loss"], abs=1e-6)
    assert ev["metric"] == pytest.approx(results["metric"], abs=1e-6)
    assert ev["samples"] == results["samples"] and len(ev["samples"]) == 8
    assert ev["majority_baseline"] == results["majority_baseline"]


def test_eval_prints_samples_next_to_the_metric(trained, capsys):
    path, out, results = trained
    args = ["eval", "--config", str(path), "--adapter", str(out / "adapter"), "--samples", "3"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("metric ") for line in lines)
    start = lines.index("samples (3 of 8 kept; ok = counted as correct):")
    shown = lines[start + 1 :]
    assert len(shown) == 3
    for line, sample in zip(shown, results["samples"], strict=False):
        assert line.split()[1] == ("ok" if sample["correct"] else "--")
        assert f"chose {sample['chosen']!r} | label {sample['label']!r}" in line


def test_export_merged_and_peft(trained, capsys, tmp_path):
    path, out, results = trained
    merged = tmp_path / "merged"
    assert main(["export", "--adapter", str(out / "adapter"), "--out", str(merged)]) == 0
    assert (merged / "model.safetensors").is_file() and (merged / "tokenizer.json").is_file()
    capsys.readouterr()
    assert main(["eval", "--config", str(path), "--set", f"model.path={merged}", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["method"] == "none"
    assert ev["eval_loss"] == pytest.approx(results["eval_loss"], abs=1e-5)
    peft_dir = tmp_path / "peft"
    rc = main(
        ["export", "--adapter", str(out / "adapter"), "--out", str(peft_dir), "--format", "peft"]
    )
    assert rc == 0
    names = sorted(p.name for p in peft_dir.iterdir())
    assert names == ["adapter_config.json", "adapter_model.safetensors"]
    from safetensors.numpy import load_file

    tensors = load_file(str(peft_dir / "adapter_model.safetensors"))
    key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    assert tensors[key].shape == (2, 32) and np.isfinite(tensors[key]).all()


def test_compile_cache_dir_is_filled_then_reused(trained, tmp_path):
    """In subprocesses (the persistent compilation cache is process-global JAX state): the first
    run writes every program it compiles; a second run with another learning rate and seed
    compiles nothing new (it loads them all: the rate is optimizer state, not a constant of the
    program, so a learning-rate selection and its seeds share one compile), and both print
    their compile / train / eval times."""
    import subprocess
    import sys

    path, _, _ = trained
    cache = tmp_path / "xla"

    def train(out: str, *extra: str) -> str:
        cmd = [
            sys.executable, "-m", "qtn.cli", "train", "--config", str(path),
            "--out", str(tmp_path / out), "--set", "train.steps=1", "--set",
            "train.warmup_steps=0", "--set", "eval.metric=false", "--set",
            f"train.compile_cache_dir={cache}", *extra,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    first = train("run")
    entries = sorted(p.name for p in cache.iterdir())
    assert any(name.startswith("jit__step") for name in entries)
    second = train("other-lr", "--set", "train.lr=0.037", "--set", "seed=5")
    assert sorted(p.name for p in cache.iterdir()) == entries  # every program was loaded
    for out in (first, second):
        assert "time: compile " in out and ", train " in out and ", eval " in out
