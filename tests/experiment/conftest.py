"""Fixtures: a tiny random Llama checkpoint built once per session, run-config factory
(helpers from tests/train/tiny_llama.py, imported by path: test folders are not packages)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "qtn_tests_tiny_llama", Path(__file__).parents[1] / "train" / "tiny_llama.py"
)
tiny_llama = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_llama)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return tiny_llama.build_tiny_checkpoint(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture
def run_config(tiny_checkpoint, tmp_path):
    """Factory: ``run_config(out="a", train={...}, ...)`` -> config dict for the tiny model."""
    return lambda out="run", **sections: tiny_llama.tiny_run_config(
        tiny_checkpoint, tmp_path / out, **sections
    )
