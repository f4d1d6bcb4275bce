"""Test configuration: strict rank promotion (catches silent broadcasting bugs); fp64 on request."""

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Run a test with 64-bit JAX types enabled (restored afterwards)."""
    with jax.enable_x64(True):
        yield
