"""MPOLinear: the classical MPO adapter (a :class:`HybridLinear` without circuit sites).

``delta``: ``W_eff = W0 + alpha · MPO(G)``, one core zero at init. ``reparam``: the MPO starts as
the TT-SVD of W0 (bonds zero-padded), ``W_eff = (W0 - MPO(G_0)) + MPO(G)``; ``train`` picks
which cores train (e.g. the auxiliary ones, as MPOP does). x: (..., d_in) -> (..., d_out).
"""

from __future__ import annotations

from collections.abc import Sequence

from flax import nnx

from qtn.nn.hybrid_linear import HybridLinear
from qtn.nn.linear import Linear
from qtn.tn import Skeleton


class MPOLinear(HybridLinear):
    """An MPO adapter: ``skeleton`` must have no circuit sites (see :class:`HybridLinear`)."""

    def __init__(
        self,
        base: Linear,
        *,
        skeleton: Skeleton,
        mode: str = "delta",
        train: str | Sequence[int] = "all",
        alpha: float = 1.0,
        strategy: str = "auto",
        forward: str = "auto",
        rngs: nnx.Rngs,
    ):
        if skeleton.circuits:
            raise ValueError(
                f"MPOLinear: skeleton has circuit sites {[k for k, _ in skeleton.circuits]}; "
                "use HybridLinear for circuit cores"
            )
        super().__init__(
            base,
            skeleton=skeleton,
            mode=mode,
            train=train,
            alpha=alpha,
            strategy=strategy,
            forward=forward,
            rngs=rngs,
        )
