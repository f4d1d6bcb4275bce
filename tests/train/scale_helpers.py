"""Helpers (not a test module) for the mesh and multi-process tests: a tiny random Qwen2-style
model (qkv bias, untied head) with LoRA on q/v whose B factors are non-zero, a fixed batch,
and a runner for worker scripts in subprocesses with N host CPU devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TINY = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=1,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    model_type="qwen2",
    qkv_bias=True,
    rope_theta=1e6,
)


def tiny_model(mesh=None, seed: int = 0):
    """Random tiny model (weights created in their shardings when ``mesh`` is given) with
    LoRA r=2 on q_proj / v_proj and deterministic non-zero B factors."""
    import jax
    from flax import nnx

    from qtn.adapters import inject
    from qtn.models import LlamaConfig
    from qtn.models.random_init import random_llama
    from qtn.nn.sharding import param_sharding_fn
    from qtn.nn.variables import AdapterParam

    shardings = param_sharding_fn(mesh) if mesh is not None else None
    model = random_llama(LlamaConfig(**TINY), std=0.2, seed=seed, shardings=shardings)
    inject(model, "lora", ["q_proj", "v_proj"], r=2, rngs=nnx.Rngs(seed))
    for i, (_, var) in enumerate(nnx.to_flat_state(nnx.state(model, AdapterParam))):
        var[...] = 0.1 * jax.random.normal(jax.random.key(100 + i), var[...].shape)
    return model


def tiny_batch(B: int = 4, T: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """A batch with one right-padded row; targets are the next tokens."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, TINY["vocab_size"], (B, T)).astype(np.int32)
    mask = np.ones((B, T), np.int32)
    mask[0, T // 2 :] = 0
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "targets": np.roll(ids, -1, axis=1),
        "loss_mask": mask,
    }


def run_worker(script: str, devices: int, *args: str, env: dict | None = None, timeout=120):
    """Run ``tests/train/<script>`` with ``devices`` host CPU devices; returns its last stdout
    line parsed as JSON (the worker prints its results there)."""
    proc = start_worker(script, devices, *args, env=env)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{script} failed ({proc.returncode}):\n{err[-4000:]}"
    return json.loads(out.strip().splitlines()[-1])


def start_worker(script: str, devices: int, *args: str, env: dict | None = None):
    full = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]),
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
        cwd=str(REPO),
    )
