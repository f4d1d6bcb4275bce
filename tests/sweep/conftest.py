"""Sweep test fixtures: the fake trainer's command template."""

import sys
from pathlib import Path

import pytest

from qtn.sweep.runner import CommandTemplate

FAKE_TRAIN = Path(__file__).with_name("fake_train.py")


@pytest.fixture
def fake_template() -> CommandTemplate:
    """Runs tests/sweep/fake_train.py instead of ``qtn train``."""
    return CommandTemplate(
        (sys.executable, str(FAKE_TRAIN), "--config", "{config}", "--out", "{out}")
    )
