"""How far sharded and multi-process training is from one device: the residuals behind
tests/train/test_sharding.py and tests/train/test_multihost.py, recorded as numbers.

- meshes on 4 host CPU devices (``data x fsdp`` = 1x4, 2x2, 4x1): loss and adapter-gradient
  residuals against one device, the shard shapes of the base weights, and on the 2x2 mesh a
  whole TrainStep + EvalStep (loss, gradient norm, updated adapter, per-token NLL);
- two real processes on localhost (2 host CPU devices each, joined by
  ``jax.distributed.initialize``): their losses over 2 steps against one process on one device.

The tiny random Qwen2-style model of the tests (fp32); the tests assert the same quantities
(<= 1e-5; 1e-4 for the per-token NLL). Numerical agreement, not speed: nothing here is timed.

    python benchmarks/bench_mesh.py     # writes benchmarks/results/mesh.{json,md}
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from machine import run_meta, write_results

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(REPO / "tests" / "train"))  # the tests' tiny model and worker runner


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multihost() -> dict:
    """Two processes on a 2x2 mesh vs one process on one device: losses and their residual."""
    import tempfile

    from scale_helpers import start_worker, tiny_batch, tiny_model

    from qtn.train.config import TrainConfig
    from qtn.train.optim import make_optimizer
    from qtn.train.steps import TrainStep

    env = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{_free_port()}", "JAX_NUM_PROCESSES": "2"}
    outs = []
    with tempfile.TemporaryDirectory() as ckpt:  # process 0's checkpoint, not needed here
        procs = [start_worker("multihost_worker.py", 2, ckpt,
                              env={**env, "JAX_PROCESS_ID": str(i)}) for i in range(2)]
        for p in procs:
            out, err = p.communicate(timeout=600)
            if p.returncode != 0:
                raise RuntimeError(f"multihost worker failed ({p.returncode}):\n{err[-3000:]}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
    model = tiny_model()
    optimizer, _ = make_optimizer(TrainConfig(steps=5, lr=1e-2), model)
    step = TrainStep(model, optimizer, loss_chunk=4)
    ref = [float(step(tiny_batch(seed=s))["loss"]) for s in range(2)]
    got = outs[0]["losses"]
    return {"losses_2_processes": got, "losses_1_device": ref,
            "processes_agree": outs[0]["losses"] == outs[1]["losses"],
            "loss_residual": max(abs(a - b) for a, b in zip(got, ref, strict=True))}


def render(out: dict) -> str:
    m = out["meta"]
    lines = [
        "# Sharded and multi-process training vs one device (residuals)",
        "",
        f"Command: `{m['command']}` — {m['machine']} ({m['cpu_flags']}), {m['date']}. The tests' "
        "tiny random Qwen2-style model (1 layer, hidden 32, qkv bias, untied head) with LoRA r=2 "
        "on q/v, fp32; what tests/train/test_sharding.py and test_multihost.py assert, as "
        "numbers.",
        "",
        "## Meshes on 4 host CPU devices (data x fsdp) vs one device",
        "",
        "| mesh | loss residual | adapter-gradient residual (max abs) | largest gradient "
        "| each device's share of the base weights |",
        "|---|---:|---:|---:|---|",
    ]
    mesh = out["mesh"]
    for name in ("1x4", "2x2", "4x1"):
        r = mesh[name]
        shares = ", ".join(f"{s:.2f}" for s in r["device_shares"])
        lines.append(f"| {name} | {r['loss_residual']:.1e} | {r['grad_residual']:.1e} | "
                     f"{r['grad_scale']:.3f} | {shares} |")
    s = mesh["2x2"]["step"]
    lines += [
        "",
        f"A TrainStep + EvalStep on the 2x2 mesh vs one device: loss {s['loss_residual']:.1e}, "
        f"gradient norm {s['grad_norm_residual']:.1e}, updated adapter {s['param_residual']:.1e}"
        f", per-token NLL {s['eval_residual']:.1e}. A checkpoint streamed into the 2x2 "
        f"shardings: max difference {mesh['load_2x2']['max_diff']:.1e}.",
        "",
        "## Two processes (2 devices each, `jax.distributed.initialize`) vs one process",
        "",
    ]
    h = out["multihost"]
    lines.append(
        f"Losses over 2 steps: {', '.join(f'{v:.6f}' for v in h['losses_2_processes'])} (2 "
        f"processes) vs {', '.join(f'{v:.6f}' for v in h['losses_1_device'])} (1 device); "
        f"residual {h['loss_residual']:.1e}; both processes report the same losses: "
        f"{'yes' if h['processes_agree'] else 'no'}."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    from scale_helpers import run_worker

    os.chdir(REPO)
    load0 = os.getloadavg()
    out = {"mesh": run_worker("mesh_worker.py", 4, timeout=900), "multihost": multihost()}
    out["meta"] = run_meta("python benchmarks/bench_mesh.py", load0)
    write_results(RESULTS, "mesh", out, render(out))


if __name__ == "__main__":
    main()
