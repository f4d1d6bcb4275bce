"""Factorization and TT-SVD: exactness at full bond, monotone truncation, clear errors."""

import math

import numpy as np
import pytest

from qtn.tn import MPO, factorize, tt_svd


@pytest.mark.parametrize(
    ("d", "n", "expected"),
    [(576, 3, (9, 8, 8)), (512, 3, (8, 8, 8)), (1000, 3, (10, 10, 10)), (64, 1, (64,))],
)
def test_factorize_balanced(d, n, expected):
    assert factorize(d, n) == expected


def test_factorize_user_factors_and_errors():
    assert factorize(60, 3, (3, 4, 5)) == (3, 4, 5)
    with pytest.raises(ValueError, match="7"):
        factorize(7, 2)
    with pytest.raises(ValueError, match=r"\(3, 4, 4\)"):
        factorize(60, 3, (3, 4, 4))


def _random(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize(
    ("in_dims", "out_dims"), [((4, 8, 8), (8, 8, 8)), ((3, 5, 6), (7, 2, 4)), ((6, 10), (9, 4))]
)
def test_full_bond_reconstructs_fp32(in_dims, out_dims):
    w = _random((math.prod(in_dims), math.prod(out_dims)), np.float32)
    mpo, report = tt_svd(w, in_dims, out_dims)
    assert report.rel_error < 1e-5
    assert mpo.to_dense().dtype == np.float32
    assert np.linalg.norm(mpo.to_dense() - w) / np.linalg.norm(w) < 1e-5
    assert report.params == sum(c.size for c in mpo.cores) == mpo.num_params
    assert report.dense_params == w.size
    assert (mpo.in_dims, mpo.out_dims) == (in_dims, out_dims)


def test_full_bond_reconstructs_fp64_with_exact_ranks():
    in_dims, out_dims = (3, 5, 6), (7, 2, 4)
    w = _random((90, 56), np.float64)
    mpo, report = tt_svd(w, in_dims, out_dims)
    assert report.rel_error < 1e-12
    # generic matrix: each bond is the full rank of its unfolding
    assert report.bond_dims == (min(3 * 7, 5 * 2 * 6 * 4), min(3 * 7 * 5 * 2, 6 * 4))
    assert [c.shape for c in mpo.cores] == [(1, 3, 7, 21), (21, 5, 2, 24), (24, 6, 4, 1)]


def test_error_non_increasing_in_bond():
    w = _random((64, 128), np.float64)
    errors = [tt_svd(w, (4, 4, 4), (4, 8, 4), max_bond=b)[1].rel_error for b in range(1, 40)]
    assert all(b <= a + 1e-12 for a, b in zip(errors, errors[1:], strict=False))
    assert errors[0] > 0.5 and errors[-1] < 1e-12


def test_cutoff_drops_small_singular_values():
    u = np.linspace(0, 1, 64)[:, None]
    w = 1.0 / (1.0 + u + u.T)  # smooth: numerically low TT rank
    _, exact = tt_svd(w, (8, 8), (8, 8))
    _, cut = tt_svd(w, (8, 8), (8, 8), cutoff=1e-10)
    assert cut.bond_dims[0] < exact.bond_dims[0] == 64
    assert cut.rel_error < 1e-9


def test_mpo_to_dense_ordering():
    """Row index (i_1, i_2) row-major, column (j_1, j_2): a rank-1 MPO is a Kronecker product."""
    a, b = _random((2, 3), np.float64, 1), _random((4, 5), np.float64, 2)
    mpo = MPO((a.reshape(1, 2, 3, 1), b.reshape(1, 4, 5, 1)))
    np.testing.assert_allclose(mpo.to_dense(), np.kron(a, b))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_bond": 0}, "max_bond must be >= 1, got 0"),
        ({"cutoff": -1.0}, "-1.0"),
    ],
)
def test_tt_svd_bad_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tt_svd(np.ones((4, 4)), (2, 2), (2, 2), **kwargs)


def test_tt_svd_shape_mismatch_names_shape():
    with pytest.raises(ValueError, match=r"\(6, 4\)"):
        tt_svd(np.ones((6, 4)), (2, 2), (2, 2))
