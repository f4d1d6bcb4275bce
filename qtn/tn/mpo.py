"""Matrix-product operators of rectangular matrices: TT-SVD decomposition and reconstruction.

Core layout (every core is 4-D, boundary bonds have size 1)::

    G_k: (a_{k-1}, i_k, j_k, a_k)
    W[(i_1..i_N), (j_1..j_N)] = sum_a G_1[1, i_1, j_1, a_1] G_2[a_1, i_2, j_2, a_2] ... G_N[.., 1]

Row index of W is (i_1..i_N) in row-major order (i_1 most significant), column index likewise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class MPO:
    """An MPO of a (d_in, d_out) matrix; ``cores[k]``: (a_{k-1}, i_k, j_k, a_k), numpy arrays."""

    cores: tuple[np.ndarray, ...]

    @property
    def in_dims(self) -> tuple[int, ...]:
        return tuple(int(c.shape[1]) for c in self.cores)

    @property
    def out_dims(self) -> tuple[int, ...]:
        return tuple(int(c.shape[2]) for c in self.cores)

    @property
    def bond_dims(self) -> tuple[int, ...]:
        """Interior bond sizes, length N - 1."""
        return tuple(int(c.shape[3]) for c in self.cores[:-1])

    @property
    def num_params(self) -> int:
        return int(sum(c.size for c in self.cores))

    def to_dense(self) -> np.ndarray:
        """Reconstruct W: (d_in, d_out)."""
        return mpo_to_dense(self.cores)


def mpo_to_dense(cores: Sequence) -> np.ndarray:
    """Contract 4-D cores left to right into (d_in, d_out); works for numpy and jax arrays."""
    xp = _namespace(cores[0])
    acc = cores[0][0]  # (I, J, a): boundary bond of size 1 dropped
    for core in cores[1:]:
        big_i, big_j, _ = acc.shape
        _, i, j, r = core.shape
        acc = xp.einsum("IJa,aijr->IiJjr", acc, core).reshape(big_i * i, big_j * j, r)
    return acc[:, :, 0]


def _namespace(a):
    if isinstance(a, np.ndarray):
        return np
    import jax.numpy as jnp

    return jnp


@dataclass(frozen=True)
class TTSVDReport:
    """What a TT-SVD kept and lost. ``rel_error = ||W - W_mpo||_F / ||W||_F`` (measured)."""

    in_dims: tuple[int, ...]
    out_dims: tuple[int, ...]
    bond_dims: tuple[int, ...]
    params: int
    dense_params: int
    rel_error: float

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def tt_svd(
    W,
    in_dims: Sequence[int],
    out_dims: Sequence[int],
    max_bond: int | None = None,
    cutoff: float = 0.0,
) -> tuple[MPO, TTSVDReport]:
    """Decompose W: (d_in, d_out) into an MPO with N = len(in_dims) cores by sequential SVD.

    ``max_bond`` caps every bond; ``cutoff`` drops singular values ``s <= cutoff * s_max`` of
    each unfolding (relative). Works in W's dtype (float32 or float64); no padding: W must be
    exactly ``prod(in_dims) x prod(out_dims)``.
    """
    W = np.asarray(W)
    in_dims, out_dims = tuple(int(d) for d in in_dims), tuple(int(d) for d in out_dims)
    if W.ndim != 2:
        raise ValueError(f"W must be a matrix, got shape {W.shape}")
    if len(in_dims) != len(out_dims) or not in_dims:
        raise ValueError(f"in_dims {in_dims} and out_dims {out_dims} need the same length >= 1")
    if W.shape != (math.prod(in_dims), math.prod(out_dims)):
        raise ValueError(
            f"W shape {W.shape} does not match in_dims {in_dims} x out_dims {out_dims} "
            f"= ({math.prod(in_dims)}, {math.prod(out_dims)})"
        )
    if max_bond is not None and max_bond < 1:
        raise ValueError(f"max_bond must be >= 1, got {max_bond}")
    if cutoff < 0:
        raise ValueError(f"cutoff must be >= 0, got {cutoff}")
    n = len(in_dims)
    # (i_1..i_N, j_1..j_N) -> (i_1, j_1, i_2, j_2, ...) so each site's legs are adjacent.
    t = W.reshape(in_dims + out_dims).transpose([ax for k in range(n) for ax in (k, n + k)])
    cores = []
    left = 1
    rest = t.reshape(1, -1)
    for k in range(n - 1):
        mat = rest.reshape(left * in_dims[k] * out_dims[k], -1)
        u, s, vh = np.linalg.svd(mat, full_matrices=False)
        keep = int(np.sum(s > cutoff * s[0])) if s.size and s[0] > 0 else 1
        keep = max(1, keep if max_bond is None else min(keep, max_bond))
        cores.append(u[:, :keep].reshape(left, in_dims[k], out_dims[k], keep))
        rest = s[:keep, None] * vh[:keep]
        left = keep
    cores.append(rest.reshape(left, in_dims[-1], out_dims[-1], 1))
    mpo = MPO(tuple(np.ascontiguousarray(c, dtype=W.dtype) for c in cores))
    norm = np.linalg.norm(W)
    err = float(np.linalg.norm(W - mpo.to_dense()) / norm) if norm > 0 else 0.0
    report = TTSVDReport(in_dims, out_dims, mpo.bond_dims, mpo.num_params, W.size, err)
    return mpo, report
