"""Hardware gradient rules: parameter shift (two- and four-term) equals autodiff; sampled
estimates are unbiased; SPSA and the simulator rule behave as specified."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.quantum import (
    Circuit,
    ExactExecutor,
    Gate,
    SampledExecutor,
    ansatz_circuit,
    estimate,
    qnn_circuit,
    shift_table,
    shifted_circuits,
)
from qtn.tn import CircuitSpec

EXACT = ExactExecutor()


def _loss(executor, circuit, measure, gradient, key=None):
    def f(w, x):
        y = estimate(executor, circuit, w, x, measure=measure, gradient=gradient, key=key)
        return jnp.sum(y * jnp.cos(jnp.arange(y.size).reshape(y.shape)))
    return f


@pytest.mark.parametrize("circuit_kind", ["qnn", "hea", "general"])
def test_parameter_shift_equals_autodiff(circuit_kind, x64):
    rng = np.random.default_rng(0)
    if circuit_kind == "qnn":
        c, measure = qnn_circuit(3, 2), "z"
        x = jnp.asarray(rng.normal(size=(4, 3)))
    else:
        c = ansatz_circuit(CircuitSpec(2, circuit_kind, "cnot", readout="probs"), 3)
        measure, x = "probs", None
    w = jnp.asarray(rng.uniform(-np.pi, np.pi, c.n_weights))
    argnums = (0, 1) if x is not None else (0,)
    # jitted throughout: op-by-op dispatch of the shifted circuits is the slow part otherwise
    ref = jax.jit(jax.grad(_loss(EXACT, c, measure, "autodiff"), argnums=argnums))(w, x)
    for rule in ("parameter_shift", "simulator"):
        got = jax.jit(jax.grad(_loss(EXACT, c, measure, rule), argnums=argnums))(w, x)
        for a, b in zip(got, ref, strict=True):
            assert float(jnp.max(jnp.abs(a - b))) < 1e-6, rule


def test_crz_four_term_rule_is_exact(x64):
    """A lone CRZ: the two-term rule would be wrong, the four-term rule is exact."""
    c = Circuit(2, (Gate("ry", (0,), weight=0), Gate("ry", (1,), weight=1),
                    Gate("crz", (0, 1), weight=2), Gate("rx", (1,), weight=3),
                    Gate("rx", (0,), weight=4)), 5)
    shifts, coef = shift_table(c)
    assert shifts.shape == (2 + 2 + 4 + 2 + 2, 5) and shifted_circuits(c) == 12
    np.testing.assert_allclose(coef[2][coef[2] != 0], [0.4267767, -0.4267767, -0.0732233,
                                                       0.0732233], atol=1e-6)
    w = jnp.array([1.1, 0.4, 2.3, -0.7, 0.9])
    f = jax.jit(_loss(EXACT, c, "probs", "autodiff"))
    exact = jax.jit(jax.grad(f))(w, None)
    g_ps = jax.jit(jax.grad(_loss(EXACT, c, "probs", "parameter_shift")))(w, None)
    np.testing.assert_allclose(np.asarray(g_ps), np.asarray(exact), atol=1e-10)
    # the two-term rule on the CRZ angle is biased (its generator has eigenvalues 0, +-1/2)
    two_term = (f(w.at[2].add(np.pi / 2), None) - f(w.at[2].add(-np.pi / 2), None)) / 2
    assert abs(float(two_term) - float(exact[2])) > 1e-3


def test_sampled_parameter_shift_is_unbiased():
    """Mean of 300 sampled parameter-shift gradients is within 4 standard errors of the exact
    gradient for every component (fixed seed)."""
    c = qnn_circuit(2, 1)
    rng = np.random.default_rng(3)
    w = jnp.asarray(rng.uniform(-np.pi, np.pi, c.n_weights), jnp.float32)
    x = jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)
    sampled = SampledExecutor(shots=100)

    def g(key):
        return jax.grad(_loss(sampled, c, "z", "parameter_shift", key))(w, x)

    keys = jax.random.split(jax.random.key(7), 300)
    grads = np.asarray(jax.jit(jax.vmap(g))(keys))
    exact = np.asarray(jax.grad(_loss(EXACT, c, "z", "autodiff"))(w, x))
    z = np.abs(grads.mean(0) - exact) / (grads.std(0) / np.sqrt(len(keys)))
    assert z.max() < 4.0
    assert grads.std(0).min() > 0  # shot noise is there


def test_spsa_is_unbiased_in_expectation(x64):
    c = qnn_circuit(2, 1)
    w = jnp.linspace(-2.0, 2.0, c.n_weights)
    x = jnp.array([[0.3, -0.2]])
    exact = np.asarray(jax.jit(jax.grad(_loss(EXACT, c, "z", "autodiff")))(w, x))
    keys = jax.random.split(jax.random.key(0), 2000)
    grads = np.asarray(jax.jit(jax.vmap(
        lambda k: jax.grad(_loss(EXACT, c, "z", "spsa", k))(w, x)))(keys))
    z = np.abs(grads.mean(0) - exact) / (grads.std(0) / np.sqrt(len(keys)) + 1e-12)
    assert z.max() < 4.5
    # each SPSA sample costs 2 circuit evaluations: its direction is a rank-one estimate
    assert np.linalg.matrix_rank(grads[:5]) <= 5


def test_rules_refuse_bad_combinations():
    c = qnn_circuit(2, 1)
    w, x = jnp.zeros(c.n_weights), jnp.zeros((1, 2))
    with pytest.raises(ValueError, match="needs the exact executor"):
        estimate(SampledExecutor(10), c, w, x, gradient="autodiff", key=jax.random.key(0))
    with pytest.raises(ValueError, match="needs a PRNG key"):
        estimate(SampledExecutor(10), c, w, x)
    with pytest.raises(ValueError, match="unknown gradient rule"):
        estimate(EXACT, c, w, x, gradient="finite_difference")
    with pytest.raises(ValueError, match="unknown measure"):
        estimate(EXACT, c, w, x, measure="x")


def test_same_key_same_sample():
    c = qnn_circuit(3, 1)
    w, x = jnp.ones(c.n_weights), jnp.ones((4, 3))
    ex = SampledExecutor(shots=50)
    sample = jax.jit(lambda key: estimate(ex, c, w, x, key=key))
    a, b, d = sample(jax.random.key(1)), sample(jax.random.key(1)), sample(jax.random.key(2))
    assert np.array_equal(np.asarray(a), np.asarray(b)) and not np.array_equal(a, d)
    # frequencies of 50 shots: <Z> is a multiple of 2/50
    np.testing.assert_allclose(np.asarray(a) * 25, np.round(np.asarray(a) * 25), atol=1e-5)
