"""Worker (run by test_sharding.py in a subprocess with 4 host CPU devices): loss and gradients
of the tiny model on one device and on the 1x4, 2x2 and 4x1 (data x fsdp) meshes, the shard
shapes of the base weights, and one optimizer step of TrainStep + an EvalStep on the 2x2 mesh
against one device. Prints JSON."""

import json

import jax
import numpy as np
from flax import nnx
from scale_helpers import tiny_batch, tiny_model

from qtn.nn.sharding import make_mesh
from qtn.nn.variables import AdapterParam
from qtn.train.config import TrainConfig
from qtn.train.loss import mean_loss
from qtn.train.optim import make_optimizer
from qtn.train.steps import FROZEN, EvalStep, TrainStep, device_batch

MESHES = ((1, 4), (2, 2), (4, 1))
STEP_MESH = (2, 2)
CHUNK = 4  # the chunked, fused head (the full-logits path is the same model code)


def loss_and_grads(model, mesh, chunk):
    batch = tiny_batch()
    graphdef, frozen, adapter = nnx.split(model, FROZEN, ...)

    def f(frozen, adapter, batch):
        def loss(adapter):
            return mean_loss(nnx.merge(graphdef, frozen, adapter), batch, chunk=chunk)[0]

        return jax.value_and_grad(loss)(adapter)

    arrays = device_batch({k: v for k, v in batch.items()}, mesh)
    loss, grads = jax.jit(f)(frozen, adapter, arrays)
    return float(loss), {str(p): np.asarray(v[...]) for p, v in nnx.to_flat_state(grads)}


def one_step(model, mesh):
    optimizer, _ = make_optimizer(TrainConfig(steps=5, lr=1e-2), model)
    step = TrainStep(model, optimizer, loss_chunk=4, mesh=mesh)
    out = step(tiny_batch())
    nll, _ = EvalStep(model, loss_chunk=4, mesh=mesh)(tiny_batch())
    flat = nnx.to_flat_state(nnx.state(model, AdapterParam))
    adapter = {str(p): np.asarray(v[...]) for p, v in flat}
    return float(out["loss"]), float(out["grad_norm"]), adapter, nll


def shard_report(model, mesh):
    """Shapes of device 0's shard of some base weights, and each device's share of all base
    weight-matrix elements."""
    layer = model.layers[0]
    arrays = {
        "up_proj": layer.mlp.up_proj.kernel[...],
        "down_proj": layer.mlp.down_proj.kernel[...],
        "q_proj.base": layer.self_attn.q_proj.base.kernel[...],
        "embed": model.embed_tokens.embedding[...],
        "lm_head": model.lm_head.kernel[...],
        "lora_a": layer.self_attn.q_proj.lora_a[...],
    }
    shapes = {k: list(a.addressable_shards[0].data.shape) for k, a in arrays.items()}
    total, per_device = 0, {d.id: 0 for d in mesh.devices.flat}
    for _, var in nnx.to_flat_state(nnx.state(model, FROZEN)):
        a = var[...]
        if a.ndim != 2:
            continue
        total += a.size
        for s in a.addressable_shards:
            per_device[s.device.id] += s.data.size
    return shapes, [n / total for n in per_device.values()]


def load_sharded(mesh):
    """Write the tiny base model as safetensors, stream it back into the mesh's shardings:
    shard shape of a weight and the largest difference to the written values."""
    import tempfile
    from pathlib import Path

    from scale_helpers import TINY

    from qtn.hf import load_model_folder, model_tensors
    from qtn.hf.safetensors_io import save_tensors
    from qtn.models import LlamaConfig
    from qtn.models.random_init import random_llama
    from qtn.nn.sharding import param_sharding_fn

    cfg = LlamaConfig(**TINY)
    model = random_llama(cfg, std=0.2)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(cfg.to_dict()))
        save_tensors(model_tensors(model), Path(tmp) / "model.safetensors", {"format": "pt"})
        loaded = load_model_folder(tmp, shardings=param_sharding_fn(mesh))
    up = loaded.layers[0].mlp.up_proj.kernel[...]
    diff = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        for a, b in zip(jax.tree.leaves(nnx.state(model)), jax.tree.leaves(nnx.state(loaded)),
                        strict=True)
    )
    return {"up_proj_shard": list(up.addressable_shards[0].data.shape), "max_diff": diff}


def main():
    assert jax.device_count() == 4, jax.devices()
    out = {}
    ref_loss, ref_grads = loss_and_grads(tiny_model(), None, CHUNK)
    ref_step = one_step(tiny_model(), None)
    for data, fsdp in MESHES:
        mesh = make_mesh(data, fsdp)
        model = tiny_model(mesh)
        loss, grads = loss_and_grads(model, mesh, CHUNK)
        shapes, shares = shard_report(model, mesh)
        out[f"{data}x{fsdp}"] = {
            "loss": loss,
            "loss_residual": abs(loss - ref_loss),
            "grad_residual": max(float(np.max(np.abs(grads[k] - ref_grads[k]))) for k in grads),
            "grad_scale": max(float(np.max(np.abs(g))) for g in ref_grads.values()),
            "shard_shapes": shapes,
            "device_shares": shares,
        }
        if (data, fsdp) == STEP_MESH:
            loss, norm, adapter, nll = one_step(model, mesh)
            out[f"{data}x{fsdp}"]["step"] = {
                "loss_residual": abs(loss - ref_step[0]),
                "grad_norm_residual": abs(norm - ref_step[1]),
                "param_residual": max(
                    float(np.max(np.abs(adapter[k] - ref_step[2][k]))) for k in adapter
                ),
                "eval_residual": float(np.max(np.abs(nll - ref_step[3]))),
            }
    out["ref_loss"] = ref_loss
    out["load_2x2"] = load_sharded(make_mesh(2, 2))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
