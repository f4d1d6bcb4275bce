"""mpo / circuit_mpo methods (circuit_mpo: the weight-space hybrid, called qtha before the
rename): step-0 invariants (both modes) on a tiny Llama, merge, save/load round trip, exact
parameter counts (SmolLM2 q+v table), gradients, per-module overrides, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qtn.adapters import (
    METHODS,
    AdapterSpec,
    adapter_layers,
    inject,
    load_adapter,
    merge,
    param_table,
    save_adapter,
)
from qtn.adapters.circuit_mpo import CircuitMPOConfig
from qtn.adapters.mpo import MPOConfig, resolve_dims
from qtn.models import LlamaConfig, LlamaForCausalLM
from qtn.nn.hybrid_linear import HybridLinear
from qtn.nn.mpo_linear import MPOLinear
from qtn.nn.variables import AdapterParam

CFG = dict(
    model_type="llama",
    vocab_size=40,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    eos_token_id=3,
)
IDS = jnp.array([[5, 7, 1, 9, 2, 30, 11, 4], [3, 3, 8, 1, 0, 12, 39, 6]])
TARGETS = ["q_proj", "v_proj"]


def _model():
    return LlamaForCausalLM(LlamaConfig.from_dict(CFG), rngs=nnx.Rngs(0))


@nnx.jit
def _logits(model, ids):
    return model(ids)


def _perturb(model, seed=3):
    key = jax.random.key(seed)
    for _, var in nnx.to_flat_state(nnx.state(model, AdapterParam)):
        key, sub = jax.random.split(key)
        var[...] = var[...] + 0.2 * jax.random.normal(sub, var[...].shape)


@pytest.mark.parametrize(
    "method, options",
    [
        ("circuit_mpo", {"bond": 4, "depth": 2, "mode": "delta"}),
        ("circuit_mpo", {"bond": 4, "depth": 2, "mode": "reparam", "depth_pattern": {"v_proj": 1}}),
        ("circuit_mpo", {"bond": 4, "depth": 2, "mode": "delta", "readout": "probs"}),
        ("circuit_mpo", {"bond": 4, "depth": 1, "mode": "reparam", "readout": "expval"}),
        ("mpo", {"bond": 4, "mode": "delta", "bond_pattern": {"layers.1.self_attn.v_proj": 2}}),
        ("mpo", {"bond": 4, "mode": "reparam", "train": [0, 2]}),
    ],
)
def test_step0_merge_and_round_trip(tmp_path, method, options):
    model = _model()
    ref = _logits(model, IDS)
    inject(model, method, TARGETS, **options)
    np.testing.assert_allclose(_logits(model, IDS), ref, atol=1e-5)
    _perturb(model)
    adapted = _logits(model, IDS)
    assert float(jnp.abs(adapted - ref).max()) > 1e-3  # the perturbation changes the model
    spec = AdapterSpec.from_dict({"method": method, "target_modules": TARGETS, **options})
    save_adapter(model, tmp_path / "ad", spec)
    fresh = _model()
    assert load_adapter(fresh, tmp_path / "ad") == spec
    np.testing.assert_allclose(_logits(fresh, IDS), adapted, atol=1e-5)
    assert merge(model) and not adapter_layers(model)
    np.testing.assert_allclose(_logits(model, IDS), adapted, atol=1e-5)


def test_overrides_and_counts_on_tiny_model():
    model = _model()
    inject(
        model,
        "circuit_mpo",
        TARGETS,
        bond=4,
        depth=2,
        depth_pattern={"v_proj": 1},
        bond_pattern={"layers.0.self_attn.q_proj": 2},
    )
    layers = dict(adapter_layers(model))
    q0, v0 = layers["layers.0.self_attn.q_proj"], layers["layers.0.self_attn.v_proj"]
    assert isinstance(q0, HybridLinear) and q0.skeleton.bond_dims == (2, 2)
    assert q0.skeleton.circuit_at(1).depth == 2 and v0.skeleton.circuit_at(1).depth == 1
    cfgs = {
        "layers.0.self_attn.q_proj": CircuitMPOConfig(bond=2, depth=2),
        "layers.0.self_attn.v_proj": CircuitMPOConfig(bond=4, depth=1),
    }
    for path, cfg in cfgs.items():
        layer = layers[path]
        assert layer.num_trainable() == cfg.trainable_params(layer.in_features, layer.out_features)
    table = param_table(model)
    assert table.trainable == sum(m.num_trainable() for m in layers.values())
    mpo = _model()
    inject(mpo, "mpo", ["q_proj"], bond=4)
    assert all(type(m) is MPOLinear for _, m in adapter_layers(mpo))


def test_smollm2_param_table():
    """Exact counts on SmolLM2-135M q_proj (576x576) + v_proj (576x192), 30 layers."""
    lora = 30 * 8 * (576 + 576 + 576 + 192)
    hybrid, mpo = CircuitMPOConfig(), MPOConfig()
    assert hybrid.skeleton(576, 576).in_dims == (9, 8, 8)
    assert hybrid.skeleton(576, 192).out_dims == (6, 8, 4)
    assert hybrid.trainable_params(576, 576) == 648 + 6 * 4 + 512 == 1184
    assert hybrid.trainable_params(576, 192) == 432 + 6 * 4 + 256 == 712
    total = 30 * (1184 + 712)
    assert (lora, total) == (460_800, 56_880) and total / lora <= 0.24
    assert 30 * (mpo.trainable_params(576, 576) + mpo.trainable_params(576, 192)) == 301_200
    small = CircuitMPOConfig(mode="reparam", train="circuits")
    assert small.trainable_params(576, 576) == 24


def test_gradients_reach_angles_and_cores_in_model():
    model = _model()
    inject(model, "circuit_mpo", TARGETS, bond=4, depth=2, mode="reparam")

    def loss(m):
        return jnp.mean(_logits(m, IDS) ** 2)

    grads = nnx.grad(loss, argnums=nnx.DiffState(0, AdapterParam))(model)
    norms = {
        ".".join(map(str, p)): float(jnp.linalg.norm(v[...])) for p, v in nnx.to_flat_state(grads)
    }
    assert len(norms) == 4 * 3  # 4 layers x (core0, angles1, core2)
    assert any("angles1" in k for k in norms) and min(norms.values()) > 0


def test_registry_and_dims():
    assert {"mpo", "circuit_mpo", "qtha"} <= set(METHODS)
    patterns = {"bond_pattern": "bond", "depth_pattern": "depth"}
    assert METHODS["circuit_mpo"].pattern_names() == patterns
    assert METHODS["mpo"].pattern_names() == {"bond_pattern": "bond"}
    circuit = CircuitMPOConfig().circuits()
    assert resolve_dims(32, 16, 3, 4, circuit) == ((2, 4, 4), (2, 4, 2))
    assert resolve_dims(576, 576, 3, 8, {}) == ((9, 8, 8), (9, 8, 8))
    # lists from YAML/JSON become tuples (hashable, equal after a round trip)
    assert MPOConfig(in_dims=[9, 8, 8], train=[0, 2]) == MPOConfig(in_dims=(9, 8, 8), train=(0, 2))


@pytest.mark.parametrize(
    "method, options, match",
    [
        ("mpo", {"bond": 0}, "bond must be an integer >= 1, got 0"),
        ("mpo", {"mode": "lora"}, "mode must be one of .* got 'lora'"),
        ("mpo", {"train": "circuits"}, "no circuit sites"),
        ("mpo", {"train": "some"}, "got 'some'"),
        ("mpo", {"in_dims": [2, 3]}, r"in_dims \[2, 3\] has 2 factors"),
        ("mpo", {"num_cores": 0}, "num_cores must be an integer >= 1, got 0"),
        ("mpo", {"strategy": "fast"}, "strategy must be one of .* got 'fast'"),
        ("circuit_mpo", {"depth": 0}, "depth must be an integer >= 1, got 0"),
        ("circuit_mpo", {"circuit_sites": [5]}, r"circuit_sites .* got \[5\]"),
        ("circuit_mpo", {"ansatz": "xyz"}, "unknown ansatz 'xyz'"),
        ("circuit_mpo", {"train": "circuits"}, "delta mode"),
        ("circuit_mpo", {"train": [3]}, r"train sites \[3\]"),
        ("circuit_mpo", {"qubits": 6}, "unknown option"),
    ],
)
def test_bad_configs_raise(method, options, match):
    with pytest.raises(ValueError, match=match):
        AdapterSpec.from_dict({"method": method, "target_modules": TARGETS, **options})


def test_shape_errors_name_module_leg_and_size():
    model = _model()
    with pytest.raises(ValueError, match=r"layers\.0\.self_attn\.q_proj.*bond 3"):
        inject(model, "circuit_mpo", TARGETS, bond=3)
    with pytest.raises(ValueError, match=r"q_proj.*in_dims"):
        inject(model, "circuit_mpo", TARGETS, bond=4, in_dims=[4, 2, 4], out_dims=[2, 8, 2])
    assert not adapter_layers(model)  # a failed inject changes nothing
