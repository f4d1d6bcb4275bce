"""Meshes on 4 host CPU devices (a subprocess: XLA_FLAGS must be set before jax is imported):
1x4, 2x2 and 4x1 (data x fsdp) meshes give the one-device loss and gradients to 1e-5, each
device holds 1/fsdp of every base weight matrix (shard shapes asserted), adapters are
replicated, and a TrainStep / EvalStep on the 2x2 mesh match one device."""

import pytest
from scale_helpers import TINY, run_worker

from qtn.nn.sharding import LOGICAL_RULES, logical_spec


@pytest.fixture(scope="module")
def report():
    return run_worker("mesh_worker.py", 4, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("mesh", ["1x4", "2x2", "4x1"])
def test_mesh_matches_one_device(report, mesh):
    r = report[mesh]
    assert r["loss_residual"] <= 1e-5
    assert r["grad_residual"] <= 1e-5 and r["grad_scale"] > 0.1  # gradients are not trivial
    fsdp = int(mesh.split("x")[1])
    d, f, q, V = TINY["hidden_size"], TINY["intermediate_size"], 32, TINY["vocab_size"]
    assert r["shard_shapes"] == {
        "up_proj": [d // fsdp, f],  # (embed, mlp): embed split over fsdp
        "down_proj": [f, d // fsdp],
        "q_proj.base": [d // fsdp, q],
        "embed": [V, d // fsdp],
        "lm_head": [d // fsdp, V],
        "lora_a": [d, 2],  # adapters replicated
    }
    assert r["device_shares"] == [1 / fsdp] * 4


@pytest.mark.slow
def test_train_and_eval_step_on_mesh(report):
    step = report["2x2"]["step"]
    assert step["loss_residual"] <= 1e-5 and step["grad_norm_residual"] <= 1e-5
    assert step["param_residual"] <= 1e-5 and step["eval_residual"] <= 1e-4


@pytest.mark.slow
def test_checkpoint_streams_into_shardings(report):
    load = report["load_2x2"]
    assert load["up_proj_shard"] == [TINY["hidden_size"] // 2, TINY["intermediate_size"]]
    assert load["max_diff"] == 0.0


def test_rules_table_maps_logical_axes():
    assert dict(LOGICAL_RULES)["embed"] == "fsdp"
    assert tuple(logical_spec(("embed", "mlp"))) == ("fsdp", None)
    assert tuple(logical_spec(None)) == ()
    with pytest.raises(ValueError, match="logical axes \\['nope'\\] have no rule"):
        logical_spec(("nope",))
