"""Fitting a circuit site to the core it replaces: exact recovery of a circuit's own core (up to
scale and sign), better than identity on a random core, the scale folded into a neighbour
reproduces the MPO, input errors, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.tn import CircuitSpec, circuit_core, hybrid_skeleton, to_dense
from qtn.tn.fit import FitResult, apply_fit, fit_circuit, scaled_core_error
from qtn.tn.mpo import mpo_to_dense

# (in_dims, out_dims, bond, spec): the middle core is (a, i, j, a) with a*i = j*a = 2^n.
CASES = {
    "hea-2q": ((2, 2, 2), (2, 2, 2), 2, CircuitSpec(3)),
    "hea-3q-cnot-brickwork": (
        (2, 2, 2),
        (2, 2, 2),
        4,
        CircuitSpec(3, entangler="cnot", pattern="brickwork"),
    ),
    "hea-4q": ((4, 4, 4), (4, 4, 4), 4, CircuitSpec(3)),
    "general-2q": ((2, 2, 2), (2, 2, 2), 2, CircuitSpec(2, ansatz="general")),
}


def _skel(case):
    in_dims, out_dims, bond, spec = CASES[case]
    return hybrid_skeleton(in_dims, out_dims, bond, {1: spec})


def _core(skel, angles):
    """What the layer sees of the circuit core: the real part (as to_dense)."""
    return np.real(np.asarray(circuit_core(skel, {"angles1": angles}, 1), np.complex128))


def _random_angles(skel, seed):
    shape = skel.param_shapes()["angles1"]
    return jax.random.uniform(jax.random.key(seed), shape, minval=-np.pi, maxval=np.pi)


@pytest.mark.parametrize("case", list(CASES))
def test_recovers_a_circuit_core(case):
    skel = _skel(case)
    target = _core(skel, _random_angles(skel, 7))
    fit = fit_circuit(skel, 1, target, key=jax.random.key(0), steps=500, restarts=4)
    assert isinstance(fit, FitResult)
    assert fit.angles.shape == skel.param_shapes()["angles1"]
    assert fit.rel_error < 1e-3
    assert fit.identity_rel_error > 0.5  # zero angles are far from this core
    assert abs(fit.scale) == pytest.approx(1.0, abs=1e-3)  # sign is free: RY(t + 2 pi) = -RY(t)
    np.testing.assert_allclose(fit.scale * _core(skel, fit.angles), target, atol=1e-3)
    assert len(fit.loss_history) == 500 and 0 <= fit.restart < 4
    assert fit.loss_history[-1] == pytest.approx(fit.rel_error, abs=1e-3)


def test_beats_identity_on_random_target():
    skel = _skel("hea-3q-cnot-brickwork")
    target = np.random.default_rng(0).normal(size=skel.core_shape(1))
    fit = fit_circuit(skel, 1, target, key=jax.random.key(1), steps=200, restarts=2)
    assert fit.identity_rel_error > 0.9
    assert fit.rel_error < fit.identity_rel_error - 0.05
    assert fit.rel_error <= min(fit.loss_history) + 1e-5  # the best iterate is kept
    err, scale = scaled_core_error(skel, 1, fit.angles, target)
    assert (err, scale) == (fit.rel_error, fit.scale)
    identity = jnp.zeros(skel.param_shapes()["angles1"])
    assert scaled_core_error(skel, 1, identity, target) == pytest.approx(
        (fit.identity_rel_error, fit.identity_scale)
    )


@pytest.mark.parametrize("factor", [3.7, -0.02])
def test_scale_is_returned_for_the_unnormalised_target(factor):
    skel = _skel("hea-2q")
    core = _core(skel, _random_angles(skel, 3))
    fit = fit_circuit(skel, 1, factor * core, key=jax.random.key(0), steps=300, restarts=4)
    assert fit.rel_error < 1e-3
    assert abs(fit.scale) == pytest.approx(abs(factor), rel=1e-3)
    np.testing.assert_allclose(
        fit.scale * _core(skel, fit.angles), factor * core, atol=1e-3 * abs(factor)
    )


def test_apply_fit_folds_the_scale_and_reproduces_the_mpo():
    skel = _skel("hea-3q-cnot-brickwork")
    rng = np.random.default_rng(1)
    cores = [rng.normal(size=skel.core_shape(k)).astype(np.float32) for k in range(3)]
    cores[1] = 3.7 * _core(skel, _random_angles(skel, 5)).astype(np.float32)
    w_mpo = np.asarray(mpo_to_dense(cores))
    params = {"core0": jnp.asarray(cores[0]), "angles1": _random_angles(skel, 0)}
    params["core2"] = jnp.asarray(cores[2])
    fit = fit_circuit(skel, 1, cores[1], key=jax.random.key(2), steps=300, restarts=4)
    fitted = apply_fit(skel, params, 1, fit)
    assert fitted["core0"] is params["core0"]  # the right neighbour takes the scale
    np.testing.assert_allclose(fitted["core2"], fit.scale * params["core2"], rtol=1e-6)
    w = np.asarray(to_dense(skel, fitted))
    assert np.linalg.norm(w - w_mpo) / np.linalg.norm(w_mpo) < 2e-3
    left = np.asarray(to_dense(skel, apply_fit(skel, params, 1, fit, into=0)))
    np.testing.assert_allclose(left, w, rtol=1e-4, atol=1e-4 * np.abs(w).max())
    with pytest.raises(ValueError, match="into=1 is not a classical site"):
        apply_fit(skel, params, 1, fit, into=1)


_ONES = np.ones((2, 2, 2, 2))  # the middle core of CASES["hea-2q"]
_NAN = np.where(np.arange(16).reshape(2, 2, 2, 2) == 0, np.nan, 1.0)
BAD = {
    "classical-site": (dict(site=0), r"site 0 is not a circuit site.*circuit sites: \[1\]"),
    "site-out-of-range": (dict(site=5), "site 5 is not a circuit site"),
    "shape": (dict(target=np.ones((2, 2, 2))), r"target has shape \(2, 2, 2\).*\(2, 2, 2, 2\)"),
    "nan": (dict(target=_NAN), "1 non-finite entries"),
    "zero": (dict(target=0 * _ONES), "target is all zeros"),
    "complex": (dict(target=1j * _ONES), "complex dtype"),
    "steps": (dict(steps=0), "steps must be an int >= 1, got 0"),
    "restarts": (dict(restarts=0), "restarts must be an int >= 1, got 0"),
    "lr": (dict(lr=-0.1), "lr must be a finite number > 0, got -0.1"),
    "init-scale": (dict(init_scale=float("nan")), "init_scale must be a finite number >= 0"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_inputs_raise(case):
    overrides, match = BAD[case]
    kwargs = dict(site=1, target=_ONES, key=jax.random.key(0)) | overrides
    with pytest.raises(ValueError, match=match):
        fit_circuit(_skel("hea-2q"), **kwargs)


def test_deterministic_for_a_key():
    skel = _skel("hea-3q-cnot-brickwork")
    target = np.random.default_rng(2).normal(size=skel.core_shape(1))
    a, b, c = (
        fit_circuit(skel, 1, target, key=jax.random.key(k), steps=50, restarts=2) for k in (4, 4, 5)
    )
    np.testing.assert_array_equal(a.angles, b.angles)
    assert (a.rel_error, a.scale, a.loss_history) == (b.rel_error, b.scale, b.loss_history)
    assert not np.array_equal(a.angles, c.angles)


@pytest.mark.parametrize("readout", ["probs", "expval"])
def test_measured_readouts_fit_through_circuit_core(readout):
    try:
        spec = CircuitSpec(3, readout=readout)
    except ValueError:
        pytest.skip(f"readout {readout!r} not available")
    skel = hybrid_skeleton((2, 2, 2), (2, 2, 2), 2, {1: spec})  # 16 entries: 4 qubits
    target = -2.5 * np.asarray(circuit_core(skel, {"angles1": _random_angles(skel, 7)}, 1))
    fit = fit_circuit(skel, 1, target, key=jax.random.key(0), steps=400, restarts=4)
    assert fit.rel_error < 0.05 < fit.identity_rel_error
    assert fit.scale == pytest.approx(-2.5, rel=0.05)  # a measured core has no free sign


def test_float64(x64):
    skel = _skel("hea-2q")
    target = _core(skel, jnp.asarray(_random_angles(skel, 7), jnp.float64))
    fit = fit_circuit(skel, 1, target, key=jax.random.key(0), steps=300, restarts=4)
    assert fit.angles.dtype == jnp.float64
    assert fit.rel_error < 1e-6
