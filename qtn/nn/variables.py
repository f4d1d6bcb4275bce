"""Parameter variable types. They are the optimizer filters: only ``AdapterParam`` trains.

Pretrained weights are plain ``nnx.Param`` (frozen by the optimizer's ``wrt`` filter); adapter
weights are ``AdapterParam`` subclasses so each kind can get its own optimizer / learning rate.
"""

from __future__ import annotations

from flax import nnx


class AdapterParam(nnx.Param):
    """A trainable adapter parameter (anything the fine-tuning optimizer updates)."""


class CoreParam(AdapterParam):
    """A classical tensor: an MPO core or a LoRA factor."""


class AngleParam(AdapterParam):
    """Rotation angles of a parameterized quantum circuit."""
