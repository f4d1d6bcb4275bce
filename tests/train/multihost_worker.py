"""Worker (run twice by test_multihost.py, 2 host CPU devices each): joins the other process
with qtn.train.distributed.initialize_from_env, trains the tiny model for 2 steps on a 2x2
mesh spanning both processes, and process 0 writes a checkpoint. Prints JSON."""

import json
import sys
from pathlib import Path

from qtn.train.distributed import initialize_from_env, is_primary

info = initialize_from_env()  # before any JAX computation

import jax  # noqa: E402
from scale_helpers import tiny_batch, tiny_model  # noqa: E402

from qtn.nn.sharding import make_mesh  # noqa: E402
from qtn.train.checkpoint import save_checkpoint  # noqa: E402
from qtn.train.config import TrainConfig  # noqa: E402
from qtn.train.optim import make_optimizer  # noqa: E402
from qtn.train.steps import TrainStep  # noqa: E402

STEPS = 2


def main(root: str) -> None:
    assert info.kind == "explicit" and jax.process_count() == 2, (info, jax.process_count())
    assert jax.device_count() == 4 and jax.local_device_count() == 2
    mesh = make_mesh(2, 2)
    model = tiny_model(mesh)
    optimizer, _ = make_optimizer(TrainConfig(steps=5, lr=1e-2), model)
    step = TrainStep(model, optimizer, loss_chunk=4, mesh=mesh)
    losses = [float(step(tiny_batch(seed=s))["loss"]) for s in range(STEPS)]
    if is_primary():
        save_checkpoint(Path(root), STEPS, model, optimizer, {"losses": losses})
    print(json.dumps({"process": jax.process_index(), "losses": losses}))


if __name__ == "__main__":
    main(sys.argv[1])
