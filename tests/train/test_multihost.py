"""Two real processes on localhost (2 host CPU devices each, joined by
``jax.distributed.initialize`` from the JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
JAX_PROCESS_ID environment) train the tiny model on a 2x2 mesh: same losses as one process on
one device, and the checkpoint process 0 writes loads into a one-device model."""

import socket

import numpy as np
import pytest
from flax import nnx
from scale_helpers import start_worker, tiny_batch, tiny_model

from qtn.nn.variables import AdapterParam
from qtn.train.checkpoint import latest_checkpoint, load_checkpoint
from qtn.train.config import TrainConfig
from qtn.train.distributed import ProcessEnv, detect
from qtn.train.optim import make_optimizer
from qtn.train.steps import TrainStep


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    import json

    env = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{_free_port()}", "JAX_NUM_PROCESSES": "2"}
    procs = [
        start_worker("multihost_worker.py", 2, str(tmp_path), env={**env, "JAX_PROCESS_ID": str(i)})
        for i in range(2)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-4000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(o["process"] for o in outs) == [0, 1]
    assert outs[0]["losses"] == outs[1]["losses"]

    model = tiny_model()
    optimizer, _ = make_optimizer(TrainConfig(steps=5, lr=1e-2), model)
    step = TrainStep(model, optimizer, loss_chunk=4)
    losses = [float(step(tiny_batch(seed=s))["loss"]) for s in range(2)]
    np.testing.assert_allclose(outs[0]["losses"], losses, atol=1e-5)

    fresh = tiny_model()
    fresh_opt, _ = make_optimizer(TrainConfig(steps=5, lr=1e-2), fresh)
    meta = load_checkpoint(latest_checkpoint(tmp_path), fresh, fresh_opt)
    assert meta["step"] == 2
    mine = dict(nnx.to_flat_state(nnx.state(model, AdapterParam)))
    for path, var in nnx.to_flat_state(nnx.state(fresh, AdapterParam)):
        np.testing.assert_allclose(np.asarray(var[...]), np.asarray(mine[path][...]), atol=1e-6)


def test_detect_reads_the_standard_environment():
    assert detect({}) == ProcessEnv("single")
    env = {"JAX_COORDINATOR_ADDRESS": "h0:1234", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"}
    assert detect(env) == ProcessEnv("explicit", "h0:1234", 4, 3)
    k8s = {**env, "JOB_COMPLETION_INDEX": "2"}
    del k8s["JAX_PROCESS_ID"]
    assert detect(k8s).process_id == 2
    slurm = {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "2", "SLURM_PROCID": "1"}
    assert detect(slurm) == ProcessEnv("slurm", None, 2, 1)
    assert detect({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}).kind == "single"
    with pytest.raises(ValueError, match=r"missing \['JAX_PROCESS_ID'\]"):
        detect({"JAX_COORDINATOR_ADDRESS": "h0:1", "JAX_NUM_PROCESSES": "2"})
    with pytest.raises(ValueError, match="host:port"):
        detect({**env, "JAX_COORDINATOR_ADDRESS": "h0"})
    with pytest.raises(ValueError, match="JAX_PROCESS_ID=5 must be in"):
        detect({**env, "JAX_PROCESS_ID": "5"})
