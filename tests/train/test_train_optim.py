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


def test_flat_adamw_equals_the_per_leaf_chain():
    """The one-vector AdamW gives the per-leaf optax chain's updates (clip -> per-group AdamW
    with its own decay -> per-group peak) over several steps, and records the pre-clip norm."""
    import optax

    from qtn.train.optim import flat_adamw

    unit = lr_schedule(1.0, steps=6, warmup_steps=2, min_lr_ratio=0.1)
    params = {"a": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.array([0.5, -2.0]),
              "c": jnp.array(1.5)}
    labels = {"a": "core", "b": "angle", "c": "core"}
    peaks, decay = {"core": 3e-2, "angle": 1e-1}, {"core": 0.1, "angle": 0.0}

    def adamw(group):
        return optax.chain(optax.adamw(unit, weight_decay=decay[group]),
                           optax.scale(peaks[group]))

    reference = optax.chain(optax.clip_by_global_norm(0.5), optax.multi_transform(
        {g: adamw(g) for g in peaks}, lambda _: labels))
    flat = flat_adamw(unit, peaks=peaks, weight_decay=decay, labels=lambda _: labels,
                      clip_norm=0.5)
    p_ref, p_flat = params, params
    s_ref, s_flat = reference.init(params), flat.init(params)
    for step in range(5):
        grads = jax.tree.map(lambda x, k=step: jnp.sin(x * (k + 1)) * 2.0, p_ref)
        u_ref, s_ref = reference.update(grads, s_ref, p_ref)
        u_flat, s_flat = flat.update(grads, s_flat, p_flat)
        norm = np.sqrt(sum(float(jnp.sum(g**2)) for g in jax.tree.leaves(grads)))
        assert float(s_flat.grad_norm) == pytest.approx(norm, rel=1e-6)
        p_ref, p_flat = optax.apply_updates(p_ref, u_ref), optax.apply_updates(p_flat, u_flat)
        for k in params:
            np.testing.assert_allclose(p_flat[k], p_ref[k], rtol=2e-6, atol=1e-7)


def test_a_checkpoint_of_the_per_leaf_optimizer_is_refused_clearly(tmp_path):
    """A checkpoint written with the per-leaf optimizer state (before flat_adamw) names why it
    cannot be resumed instead of listing hundreds of missing tensors; a current one loads."""
    from safetensors.numpy import load_file, save_file

    from qtn.train.checkpoint import STATE_FILE, load_checkpoint, save_checkpoint

    model = Mixed()
    opt, _ = make_optimizer(TrainConfig(steps=3), model)
    path = save_checkpoint(tmp_path, 1, model, opt, {})
    load_checkpoint(path, Mixed(), make_optimizer(TrainConfig(steps=3), Mixed())[0])
    arrays = load_file(str(path / STATE_FILE))
    old = {k: v for k, v in arrays.items() if not k.startswith("optimizer/opt_state")}
    old["optimizer/opt_state.2.inner_states.core.inner_state.0.0.mu.core"] = np.zeros(3, "f4")
    save_file(old, str(path / STATE_FILE), metadata={"format": "qtn-checkpoint"})
    with pytest.raises(ValueError, match="per-leaf AdamW .* cannot be resumed: start the run"):
        load_checkpoint(path, Mixed(), make_optimizer(TrainConfig(steps=3), Mixed())[0])


def test_flat_adamw_update_is_a_few_ops_per_leaf():
    """The update's program grows by a few ops per adapter leaf (ravel, unravel), not by a
    mask fill per leaf and group: a scanned QTHA model has 660 adapter leaves, and every op
    per leaf is hundreds in its training step."""
    from qtn.train.optim import flat_adamw

    unit = lr_schedule(1.0, steps=4, warmup_steps=1, min_lr_ratio=0.1)

    def eqns(n_leaves: int, decay: float) -> int:
        params = {f"p{i}": jnp.ones((2, 3)) for i in range(n_leaves)}
        labels = {k: ("angle" if i % 2 else "core") for i, k in enumerate(params)}
        tx = flat_adamw(unit, peaks={"core": 1e-3, "angle": 1e-2},
                        weight_decay={"core": decay, "angle": 0.0}, labels=lambda _: labels)
        state = tx.init(params)
        return len(jax.make_jaxpr(lambda g, s, p: tx.update(g, s, p))(params, state, params)
                   .eqns)

    per_leaf = (eqns(120, 0.0) - eqns(20, 0.0)) / 100
    assert per_leaf <= 3.01, per_leaf  # ravel the grads, unravel the step
    # weight decay ravels the params too: one more op per leaf
    assert (eqns(120, 0.1) - eqns(20, 0.1)) / 100 <= 4.01


def test_flat_adamw_puts_no_adapter_sized_constant_in_a_one_group_program():
    """With every leaf in one group (LoRA, MPO: no circuit angles) the peak and the decay are
    scalars: no P-sized constant in the update (at millions of parameters it would weigh
    megabytes); mixed groups carry their masks."""
    from qtn.train.optim import flat_adamw

    unit = lr_schedule(1.0, steps=4, warmup_steps=1, min_lr_ratio=0.1)
    params = {f"p{i}": jnp.ones((50, 40)) for i in range(4)}
    size = 4 * 50 * 40

    def largest_constant(labels: dict[str, str]) -> int:
        tx = flat_adamw(unit, peaks={"core": 1e-3, "angle": 1e-2},
                        weight_decay={"core": 0.1, "angle": 0.1}, labels=lambda _: labels)
        closed = jax.make_jaxpr(lambda g, s, p: tx.update(g, s, p))(params, tx.init(params),
                                                                    params)
        return max([int(np.size(c)) for c in closed.consts] + [0])

    assert largest_constant({k: "core" for k in params}) < size
    mixed = {k: ("angle" if k == "p0" else "core") for k in params}
    assert largest_constant(mixed) == size
