"""Config-section machinery of qtn.train: ``--set`` overrides and section parsing (the whole
run config is tested in tests/experiment/test_experiment_config.py)."""

import pytest

from qtn.train.config import ConfigError, TrainConfig, build_section, parse_override


def test_parse_override_values():
    assert parse_override("a.b=1e-3") == ("a.b", 1e-3)
    assert parse_override("a=7") == ("a", 7)
    assert parse_override("a=[x, y]") == ("a", ["x", "y"])
    assert parse_override("a=null") == ("a", None)
    assert parse_override("a=true") == ("a", True)
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("novalue")


def test_build_section_coerces_and_reports():
    section, errors = build_section("train", TrainConfig, {"lr": 1, "stepz": 3, "steps": "x"})
    assert isinstance(section.lr, float) and section.lr == 1.0 and section.steps == 100
    assert errors[0].startswith("unknown key train.stepz (did you mean train.steps?)")
    assert errors[1] == "train.steps must be int, got 'x' (str)"
