"""Fixtures: a tiny random Llama checkpoint built once per session, run-config factory."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_llama import build_tiny_checkpoint, tiny_run_config


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture
def run_config(tiny_checkpoint, tmp_path):
    """Factory: ``run_config(out="a", train={...}, ...)`` -> config dict for the tiny model."""
    return lambda out="run", **sections: tiny_run_config(
        tiny_checkpoint, tmp_path / out, **sections
    )
