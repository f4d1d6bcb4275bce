"""save_adapter / load_adapter round trip and validation errors."""

import json

import numpy as np
import pytest

from qtn.adapters import AdapterSpec, inject, load_adapter, save_adapter

SPEC = {
    "method": "lora",
    "target_modules": ["q_proj", "v_proj"],
    "r": 2,
    "alpha": 4.0,
    "rank_pattern": {"layers.1.self_attn.v_proj": 3},
}


def _adapted(toy, randomize):
    model = toy()
    inject(
        model,
        "lora",
        ["q_proj", "v_proj"],
        r=2,
        alpha=4.0,
        rank_pattern={"layers.1.self_attn.v_proj": 3},
    )
    randomize(model)
    return model


def test_round_trip(tmp_path, toy, x, randomize):
    model = _adapted(toy, randomize)
    save_adapter(model, tmp_path / "ad", SPEC)
    assert sorted(p.name for p in (tmp_path / "ad").iterdir()) == [
        "adapter.safetensors",
        "adapter_config.json",
    ]
    config = json.loads((tmp_path / "ad" / "adapter_config.json").read_text())
    assert config["adapter"]["rank_pattern"] == {"layers.1.self_attn.v_proj": 3}
    assert config["tensors"]["layers.1.self_attn.v_proj.lora_a"]["shape"] == [8, 3]
    fresh = toy()
    spec = load_adapter(fresh, tmp_path / "ad")
    assert spec == AdapterSpec.from_dict(SPEC)
    np.testing.assert_array_equal(fresh(x), model(x))
    # saving again over an existing folder replaces it atomically
    save_adapter(model, tmp_path / "ad", SPEC)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_load_reports_mismatches(tmp_path, toy, randomize):
    save_adapter(_adapted(toy, randomize), tmp_path / "ad", SPEC)
    other = toy()
    inject(other, "lora", ["q_proj"], r=2)
    with pytest.raises(ValueError, match="adapted modules differ"):
        load_adapter(other, tmp_path / "ad")
    cfg_path = tmp_path / "ad" / "adapter_config.json"
    config = json.loads(cfg_path.read_text())
    config["adapter"]["rank_pattern"] = {}
    cfg_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"layers.1.self_attn.v_proj.lora_a: shape \(8, 3\)"):
        load_adapter(toy(), tmp_path / "ad")
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        load_adapter(toy(), tmp_path)
    config["format"] = "other"
    cfg_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="format"):
        load_adapter(toy(), tmp_path / "ad")
