"""The contract every adapter layer satisfies (LoRA, MPO, circuit-MPO, the paper's QTHA).

An adapter layer wraps a frozen pretrained ``Linear`` (kept as ``self.base``) and adds a trainable
update built from ``AdapterParam`` variables. ``y = base(x) + update(x)``, the update is zero at
initialisation (``delta`` mode) or cancels exactly against a frozen residual (``reparam`` mode), so
an adapted model equals the pretrained one at step 0. A linear update folds into W (``merge``:
``delta_weight()``); a nonlinear one (the paper's QTHA with its per-token QNN) says why not
(``merge_error()``).
"""

from __future__ import annotations

import jax
from flax import nnx

from qtn.nn.linear import Linear
from qtn.nn.variables import AdapterParam


class AdapterLayer(nnx.Module):
    """Base class: subclasses set ``self.base`` and implement ``__call__`` and ``delta_weight``."""

    base: Linear

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> jax.Array:
        """Dense ``W_eff - W0``: (in_features, out_features). Used by merge / export."""
        raise NotImplementedError

    def merge_error(self) -> str | None:
        """None when the update is linear in x (``delta_weight`` exists), else the reason it
        cannot be merged into W (checked by merge / export before anything changes)."""
        return None

    def num_trainable(self) -> int:
        """Exact number of trainable scalars (``AdapterParam`` entries) in this layer."""
        state = nnx.state(self, AdapterParam)
        return int(sum(x.size for x in jax.tree.leaves(state)))
