"""inject / merge / registry / spec matching / parameter table."""

import jax.numpy as jnp
import numpy as np
import pytest

from qtn.adapters import (
    METHODS,
    AdapterSpec,
    adapter_layers,
    inject,
    linear_paths,
    merge,
    param_table,
)
from qtn.adapters.spec import matches_target, pattern_value
from qtn.nn.linear import Linear
from qtn.nn.lora import LoRALinear

QV = [
    "layers.0.self_attn.q_proj",
    "layers.0.self_attn.v_proj",
    "layers.1.self_attn.q_proj",
    "layers.1.self_attn.v_proj",
]


def test_registry_is_explicit_and_read_only():
    assert "lora" in METHODS
    with pytest.raises(TypeError):
        METHODS["x"] = METHODS["lora"]  # type: ignore[index]
    assert METHODS["lora"].option_names() == ("r", "alpha", "dropout")
    assert METHODS["lora"].pattern_names() == {"rank_pattern": "r", "alpha_pattern": "alpha"}


@pytest.mark.parametrize(
    "targets, expected",
    [
        (["q_proj", "v_proj"], QV),
        (r"layers\.1\.self_attn\.(q|v)_proj", QV[2:]),
        (["layers.0.self_attn.q_proj"], QV[:1]),
        (["proj"], []),  # suffixes match whole dotted names only
    ],
)
def test_target_matching(targets, expected):
    paths = QV + ["layers.0.self_attn.o_proj", "lm_head"]
    assert [p for p in paths if matches_target(p, targets)] == expected


def test_pattern_first_match_wins():
    pat = {"layers.1.self_attn.v_proj": 2, "v_proj": 4}
    assert pattern_value("layers.1.self_attn.v_proj", pat) == (True, 2)
    assert pattern_value("layers.0.self_attn.v_proj", pat) == (True, 4)
    assert pattern_value("layers.0.self_attn.q_proj", pat) == (False, None)


def test_inject_step0_invariant_counts_and_patterns(toy, x):
    model = toy()
    y0 = model(x)
    paths = inject(
        model,
        "lora",
        ["q_proj", "v_proj"],
        r=2,
        alpha=4,
        rank_pattern={"layers.1.self_attn.v_proj": 3},
    )
    assert paths == QV
    assert all(isinstance(m, LoRALinear) for _, m in adapter_layers(model))
    assert float(jnp.abs(model(x) - y0).max()) <= 1e-5
    table = param_table(model, lora_rank=8)
    assert [r.trainable for r in table.rows] == [2 * 16, 2 * 24, 2 * 16, 3 * 24]
    assert table.trainable == 32 + 48 + 32 + 72
    assert table.lora == 8 * (16 + 24) * 2
    assert table.ratio_to_lora == pytest.approx(184 / 640)
    assert "**total**" in table.to_markdown()
    # frozen base parameters: 2 layers x (8*8 + 8*16 + 16*8) + lm_head 8*5
    assert table.base_params == 2 * (64 + 128 + 128) + 40
    # base linears are no longer offered as targets
    assert linear_paths(model) == [
        "layers.0.self_attn.o_proj",
        "layers.1.self_attn.o_proj",
        "lm_head",
    ]


def test_merge_folds_into_base(toy, x, randomize):
    model = toy()
    inject(model, "lora", r"layers\.\d+\.self_attn\.(q|v|o)_proj", r=2, alpha=2)
    randomize(model)
    adapted = model(x)
    merged = merge(model)
    assert len(merged) == 6 and not adapter_layers(model)
    assert isinstance(model.layers[0].self_attn.q_proj, Linear)
    np.testing.assert_allclose(model(x), adapted, atol=1e-5, rtol=1e-5)


def test_inject_errors_are_clear(toy):
    with pytest.raises(ValueError, match="matched no Linear layer; available"):
        inject(toy(), "lora", ["k_proj"])
    with pytest.raises(ValueError, match="unknown adapter method 'nope'; available"):
        inject(toy(), "nope", ["q_proj"])
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['bond'\]"):
        inject(toy(), "lora", ["q_proj"], bond=2)
    with pytest.raises(ValueError, match="r must be an integer >= 1"):
        inject(toy(), "lora", ["q_proj"], rank_pattern={"v_proj": 0})
    m = toy()
    inject(m, "lora", ["q_proj"])
    with pytest.raises(ValueError, match="already adapted"):
        inject(m, "lora", ["q_proj"])


def test_spec_round_trip():
    d = {
        "method": "lora",
        "target_modules": ["q_proj"],
        "r": 4,
        "alpha": 8.0,
        "rank_pattern": {"q_proj": 2},
    }
    spec = AdapterSpec.from_dict(d)
    assert spec.config_for("layers.0.self_attn.q_proj").r == 2
    assert AdapterSpec.from_dict(spec.to_dict()) == AdapterSpec.from_dict(spec.to_dict())
    assert spec.to_dict() == {**d, "dropout": 0.0}
