"""Optimizer: angle/core partition, frozen base, warmup+cosine, gradient accumulation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qtn.nn.variables import AngleParam, CoreParam
from qtn.train.config import TrainConfig
from qtn.train.optim import lr_schedule, make_optimizer


class Mixed(nnx.Module):
    def __init__(self):
        self.core = CoreParam(jnp.ones((3,)))
        self.angle = AngleParam(jnp.ones((2,)))
        self.frozen = nnx.Param(jnp.ones((4,)))

    def loss(self, x):
        return (
            jnp.sum(self.core[...] * x[:3])
            + jnp.sum(self.angle[...] * x[3:5])
            + jnp.sum(self.frozen[...] * x)
        )


def _grads(model, x):
    from qtn.nn.variables import AdapterParam

    return nnx.grad(lambda m: m.loss(x), argnums=nnx.DiffState(0, AdapterParam))(model)


def test_angles_and_cores_get_their_own_learning_rates():
    model = Mixed()
    cfg = TrainConfig(steps=10, lr=1e-3, angle_lr=1e-1, clip_norm=0.0, min_lr_ratio=1.0)
    opt, schedules = make_optimizer(cfg, model)
    opt.update(model, _grads(model, jnp.ones((4,))))
    # Adam's first step moves each parameter by ~lr (sign of the gradient)
    np.testing.assert_allclose(model.core[...], 1 - 1e-3, rtol=1e-4)
    np.testing.assert_allclose(model.angle[...], 1 - 1e-1, rtol=1e-4)
    np.testing.assert_array_equal(model.frozen[...], jnp.ones((4,)))
    assert float(schedules["angle"](0)) == pytest.approx(1e-1)


def test_schedule_warmup_then_cosine():
    s = lr_schedule(2e-3, steps=20, warmup_steps=4, min_lr_ratio=0.1)
    values = [float(s(i)) for i in range(21)]
    assert values[0] == 0.0 and values[4] == pytest.approx(2e-3)
    assert values[2] == pytest.approx(1e-3)
    assert values[20] == pytest.approx(2e-4)
    assert all(a >= b for a, b in zip(values[4:], values[5:], strict=False))


def test_grad_accumulation_equals_mean_gradient():
    xs = [jnp.array([1.0, 2.0, 3.0, 4.0]), jnp.array([-3.0, 0.5, 1.0, 2.0])]
    cfg = dict(steps=4, lr=1e-2, clip_norm=1.0)
    acc_model = Mixed()
    acc, _ = make_optimizer(TrainConfig(grad_accum=2, **cfg), acc_model)
    for x in xs:
        acc.update(acc_model, _grads(acc_model, x))
    one_model = Mixed()
    one, _ = make_optimizer(TrainConfig(**cfg), one_model)
    one.update(
        one_model, jax.tree.map(lambda a, b: (a + b) / 2, *[_grads(one_model, x) for x in xs])
    )
    np.testing.assert_allclose(acc_model.core[...], one_model.core[...], rtol=1e-6)
    np.testing.assert_allclose(acc_model.angle[...], one_model.angle[...], rtol=1e-6)


def test_nothing_to_train_is_an_error():
    class Plain(nnx.Module):
        def __init__(self):
            self.w = nnx.Param(jnp.ones(2))

    with pytest.raises(ValueError, match="no adapter parameters"):
        make_optimizer(TrainConfig(), Plain())
