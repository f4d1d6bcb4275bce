"""Test configuration: fp64 available, strict rank promotion to catch broadcasting bugs."""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
