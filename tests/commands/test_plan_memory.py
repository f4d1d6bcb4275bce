"""`qtn plan-memory` on the committed Qwen2 shape configs (no weights anywhere) and the refusal
`qtn train` makes before loading when the plan exceeds --max-memory."""

import importlib.util
import json
from pathlib import Path

import yaml

from qtn.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG_1P5B = REPO / "experiments" / "scale" / "lora_1.5b.yaml"
CONFIG_7B = REPO / "experiments" / "scale" / "lora_7b.yaml"

_spec = importlib.util.spec_from_file_location(
    "qtn_tests_tiny_llama", Path(__file__).parents[1] / "train" / "tiny_llama.py"
)
tiny_llama = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_llama)


def _plan(capsys, monkeypatch, *argv):
    monkeypatch.chdir(REPO)  # the configs' model.path is relative to the repository
    rc = main(["plan-memory", *argv, "--json"])
    captured = capsys.readouterr()
    return rc, json.loads(captured.out), captured.err


def test_plan_memory_1p5b_fits_and_7b_terms(capsys, monkeypatch):
    rc, plan, _ = _plan(capsys, monkeypatch, "--config", str(CONFIG_1P5B), "--max-memory", "24GiB")
    assert rc == 0 and plan["fits"] and plan["budget"] == 24 * 2**30
    terms = plan["terms"]
    assert terms["base_params"] == 2 * 1_777_088_000  # bf16 storage of every weight
    assert terms["optimizer"] == 8 * 1_089_536  # AdamW moments of LoRA r=8 on q/v, fp32
    assert plan["tokens_per_device"] == 4 * 256
    rc, plan7, _ = _plan(capsys, monkeypatch, "--config", str(CONFIG_7B), "--devices", "8",
                              "--processes", "8", "--platform", "gpu")
    assert rc == 0 and plan7["mesh"] == {"data": 1, "fsdp": 8}
    assert plan7["terms"]["base_params"] < 2.1e9  # 15.2 GB of bf16 weights over 8 devices


def test_plan_memory_7b_bf16_compute_fits_a_gpu_plan_not_a_cpu_one(capsys, monkeypatch):
    """The 7B config's bf16 compute: on a GPU nothing is widened; on CPU XLA runs the dots in
    float32, and the widened weights are the term that does not fit 24 GiB."""
    args = ("--config", str(CONFIG_7B), "--max-memory", "24GiB")
    rc, gpu, _ = _plan(capsys, monkeypatch, *args, "--platform", "gpu")
    assert rc == 0 and gpu["fits"] and gpu["terms"]["widened_weights"] == 0
    rc, cpu, err = _plan(capsys, monkeypatch, *args, "--platform", "cpu")
    assert rc == 1 and not cpu["fits"] and "largest term: widened_weights" in err


def test_plan_memory_refuses_with_breakdown(capsys, monkeypatch):
    rc, plan, err = _plan(
        capsys, monkeypatch, "--config", str(CONFIG_7B), "--max-memory", "16GiB",
        "--set", "model.param_dtype=float32",
    )
    assert rc == 1 and not plan["fits"]
    assert "exceeds the budget 16.00 GiB" in err and "largest term: base_params" in err


def test_train_refused_before_loading(tmp_path, capsys):
    config = tiny_llama.tiny_run_config(tmp_path / "no-weights-here", tmp_path / "run")
    folder = tmp_path / "no-weights-here"
    folder.mkdir()
    # config.json only: a model that cannot load (no safetensors), but whose plan is known
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 320,
           "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2}
    (folder / "config.json").write_text(json.dumps(cfg))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(path), "--max-memory", "64MiB"]) == 2
    err = capsys.readouterr().err
    assert "estimated memory" in err and "exceeds the budget 0.06 GiB" in err
    assert "| runtime |" in err and not (tmp_path / "run" / "config.yaml").exists()
