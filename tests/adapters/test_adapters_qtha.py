"""The ``qtha`` method (the paper's architecture) through the adapter API: exact step-0 identity
for every arch, save/load round trip, merge refusal (QNN) vs merge (linear archs), counts with
per-module overrides, config-time errors naming the value, and the rename of the old
weight-space ``qtha`` to ``circuit_mpo`` (options and saved files)."""

import json

import jax
import numpy as np
import pytest
from flax import nnx

from qtn.adapters import AdapterSpec, adapter_layers, inject, load_adapter, merge, save_adapter
from qtn.adapters.io import read_adapter_config
from qtn.adapters.qtha import QTHAConfig
from qtn.experiment.config import RunConfig
from qtn.nn.paper_qtha import ARCHS, QTHALinear
from qtn.nn.variables import AdapterParam, AngleParam, CoreParam
from qtn.train.config import ConfigError

TARGETS = ["q_proj", "v_proj"]
# the toy model: q_proj 8x8, v_proj 8x16; 2 MPO cores, bottleneck 4 = 2·2, TT rank 2
SMALL = {"r": 2, "bottleneck": 4, "mpo_cores": 2, "mpo_ranks": [1, 2, 1]}


def _perturb(model, seed=3):
    """Random adapter values large enough that a 6-factor product (AB) shows in the output."""
    key = jax.random.key(seed)
    for _, var in nnx.to_flat_state(nnx.state(model, AdapterParam)):
        key, sub = jax.random.split(key)
        var[...] = 0.7 * jax.random.normal(sub, var[...].shape)


def _spec(**options):
    return AdapterSpec.from_dict({"method": "qtha", "target_modules": TARGETS, **options})


@pytest.mark.parametrize("arch", ARCHS)
def test_identity_at_init_and_round_trip(arch, tmp_path, toy, x):
    model = toy()
    ref = model(x)
    spec = _spec(**SMALL, arch=arch)
    inject(model, "qtha", TARGETS, **SMALL, arch=arch)
    assert all(isinstance(m, QTHALinear) for _, m in adapter_layers(model))
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(ref))  # exactly
    _perturb(model)
    adapted = model(x)
    assert float(np.abs(np.asarray(adapted - ref)).max()) > 1e-2
    save_adapter(model, tmp_path / "ad", spec)
    fresh = toy()
    assert load_adapter(fresh, tmp_path / "ad") == spec
    np.testing.assert_array_equal(np.asarray(fresh(x)), np.asarray(adapted))


def test_merge_refused_for_the_qnn_and_done_for_linear_archs(toy, x):
    model = toy()
    inject(model, "qtha", TARGETS, **SMALL)
    with pytest.raises(ValueError, match=r"cannot merge \['layers.0.self_attn.q_proj'.*nonlinear"):
        merge(model)
    assert len(adapter_layers(model)) == 4  # nothing was merged
    linear = toy()
    inject(linear, "qtha", TARGETS, **SMALL, arch="AB")
    _perturb(linear)
    adapted = linear(x)
    assert len(merge(linear)) == 4 and not adapter_layers(linear)
    np.testing.assert_allclose(np.asarray(linear(x)), np.asarray(adapted), rtol=1e-5, atol=1e-5)


def test_counts_and_per_module_overrides(toy):
    model = toy()
    overrides = {
        "rank_pattern": {"v_proj": 3},
        "layers_pattern": {"layers.1.self_attn.q_proj": 1},
        "alpha_pattern": {"layers.0.self_attn.q_proj": 1.0},
        "bottleneck_pattern": {"v_proj": 9},
    }
    inject(model, "qtha", TARGETS, **SMALL, **overrides)
    layers = dict(adapter_layers(model))
    q0, q1 = layers["layers.0.self_attn.q_proj"], layers["layers.1.self_attn.q_proj"]
    v0 = layers["layers.0.self_attn.v_proj"]
    assert (q0.r, q0.qnn_layers, q0.scale) == (2, 2, 0.5)  # alpha 1 / r 2
    assert (q1.qnn_layers, q1.scale, v0.r, v0.qnn_layers, v0.scale) == (1, 2.0, 3, 3, 2.0)
    assert v0.bottleneck == 9 and v0.mpo_a.out_dims == (3, 3)
    # hand counts: MPO (1, 2, 1) cores a_{k-1} i j a_k; MLPs; CW, QW; 4 r L angles
    # q0 8 -> 8 as (4, 2) -> (2, 2) -> (4, 2): MPO_A 4*2*2 + 2*2*2 = 24, MPO_B 24
    assert q0.num_trainable() == 24 + 24 + 4 * 2 + 2 * 4 + 2 * 2 * 2 + 4 * 2 * 2 == 88
    assert q1.num_trainable() == 88 - 4 * 2 * 1
    # v0 8 -> 16, r 3, bottleneck 9 = (3, 3): MPO_A (4, 2)->(3, 3): 1*4*3*2 + 2*2*3*1 = 36,
    # MPO_B (3, 3)->(4, 4): 1*3*4*2 + 2*3*4*1 = 48; MLPs 9*3 + 3*9; CW, QW 9 each; 4*3*3 angles
    assert v0.num_trainable() == 36 + 48 + 27 + 27 + 9 + 9 + 36 == 192
    spec = _spec(**SMALL, **overrides)
    for path, layer in layers.items():
        cfg = spec.config_for(path)
        assert cfg.trainable_params(layer.in_features, layer.out_features) == layer.num_trainable()


@pytest.mark.parametrize(
    "options, match",
    [
        ({"r": 1}, "r must be an integer >= 2.*got 1"),
        ({"r": 20}, "r=20 qubits per token"),
        ({"arch": "AC"}, r"arch must be one of .* got 'AC'"),
        ({"bottleneck": 7}, "bottleneck 7 cannot be split into mpo_cores=4 factors"),
        ({"mpo_ranks": [1, 8, 8, 1]}, r"mpo_ranks \[1, 8, 8, 1\] must have mpo_cores \+ 1 = 5"),
        ({"mpo_ranks": [2, 8, 8, 8, 1]}, "with 1 at both ends"),
        ({"qnn_layers": 0}, "qnn_layers must be an integer >= 1 or null.*got 0"),
        ({"alpha": "big"}, "alpha must be a number or null.*'big'"),
        ({"layers_pattern": {"v_proj": 0}}, "qnn_layers must be .*got 0"),
        ({"dropout": 0.1}, r"unknown option\(s\) \['dropout'\]"),
    ],
)
def test_bad_options_fail_at_config_time(options, match):
    with pytest.raises(ValueError, match=match):
        _spec(**options)


def test_bad_sizes_name_the_module(toy):
    model = toy()
    with pytest.raises(ValueError, match=r"module layers.0.self_attn.q_proj: .*in_features 8 "
                       r"cannot be split into mpo_cores=4"):
        inject(model, "qtha", TARGETS)
    assert not adapter_layers(model)
    assert QTHAConfig(arch="BC", bottleneck=7).mpo_skeletons(8, 8) == (None, None)


@pytest.mark.parametrize("old", [{"bond": 8, "depth": 4}, {"circuit_sites": [1]},
                                 {"readout": "probs"}, {"depth_pattern": {"v_proj": 2}}])
def test_old_weight_space_options_point_to_circuit_mpo(old):
    with pytest.raises(ValueError, match=r"now method 'circuit_mpo'"):
        _spec(**old)
    cfg = {"adapter": {"method": "qtha", "target_modules": TARGETS, **old}}
    with pytest.raises(ConfigError, match="circuit_mpo"):  # before anything is loaded
        RunConfig.from_dict(cfg)
    RunConfig.from_dict({"adapter": {**cfg["adapter"], "method": "circuit_mpo"}})


def test_files_saved_as_old_qtha_load_as_circuit_mpo(tmp_path, toy, x):
    model = toy()
    options = {"bond": 2, "depth": 1, "num_cores": 2}
    inject(model, "circuit_mpo", TARGETS, **options)
    _perturb(model)
    spec = AdapterSpec.from_dict({"method": "circuit_mpo", "target_modules": TARGETS, **options})
    save_adapter(model, tmp_path / "ad", spec)
    path = tmp_path / "ad" / "adapter_config.json"
    config = json.loads(path.read_text())
    config["adapter"]["method"] = "qtha"  # what qtn wrote before the rename
    path.write_text(json.dumps(config))
    read = read_adapter_config(tmp_path / "ad")
    assert read["adapter"]["method"] == "circuit_mpo" and read["renamed_from"] == "qtha"
    fresh = toy()
    assert load_adapter(fresh, tmp_path / "ad") == spec
    np.testing.assert_array_equal(np.asarray(fresh(x)), np.asarray(model(x)))


def test_kinds_for_the_optimizer(toy):
    model = toy()
    inject(model, "qtha", ["q_proj"], **SMALL)
    layer = model.layers[0].self_attn.q_proj
    assert isinstance(layer.qnn_angles, AngleParam) and layer.qnn_angles[...].shape == (2, 4, 2)
    for name in ("mpo_a0", "mpo_a1", "mpo_b0", "mpo_b1", "mlp_a", "mlp_b", "cw", "qw"):
        assert isinstance(getattr(layer, name), CoreParam), name
    angles = nnx.state(model, AngleParam)
    assert len(nnx.to_flat_state(angles)) == 2  # one QNN per adapted layer
