"""Fixtures: a tiny random Llama checkpoint built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_llama import build_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny_llama"))
