"""Grouped-query attention, forward + gradient, at SmolLM2-135M's training shapes: qtn's
head-major layout next to the token-major layout it replaced and PyTorch's SDPA (the peer PEFT
runs), in one process, rounds alternating between them.

- ``head-major`` is :func:`qtn.models.attention.grouped_attention` as the model's no-cache path
  calls it: q, k, v transposed once to (B, K, G, T, D) / (B, K, S, D), both products batched
  over (B, K), query blocks of ``CAUSAL_BLOCK`` (128) rows skipping the keys after them (at
  2 x 512, 10 of 16 score blocks; at 8 x 128 one block, every score);
- ``token-major`` is the previous formulation (kept here as the reference): einsums on the
  (B, T, K, G, D) layout, which XLA:CPU batches over (B, K, G) with copies around the products;
- ``torch-sdpa`` is ``torch.nn.functional.scaled_dot_product_attention`` with the KV heads
  repeated as transformers' SmolLM2 does (fp32, 2 threads), forward + backward.

Each is the gradient of ``sum(attention(q, k, v) * w)`` w.r.t. q, k, v with a causal mask.

    python benchmarks/bench_attention.py     # writes benchmarks/results/attention.{json,md}
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from machine import run_meta, write_results

RESULTS = Path(__file__).parent / "results"
SHAPES = ((8, 128), (2, 512))  # (rows, tokens): the padded 8 x 128 step, packed 2 x 512 rows
HEADS, KV_HEADS, HEAD_DIM = 9, 3, 64  # SmolLM2-135M
ROUNDS = 7


def token_major(q, k, v, mask):
    """The formulation before head-major: q: (B, T, H, D); k, v: (B, S, K, D); mask
    (B, 1, 1, T, S) -> (B, T, H*D)."""
    import jax
    import jax.numpy as jnp

    B, T, H, D = q.shape
    K = k.shape[2]
    qg = q.reshape(B, T, K, H // K, D) * jnp.asarray(D**-0.5, q.dtype)
    scores = jnp.einsum("btkgd,bskd->bkgts", qg, k, preferred_element_type=jnp.float32)
    scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    return jnp.einsum("bkgts,bskd->btkgd", probs, v).reshape(B, T, H * D)


def _jax_case(fn, rows: int, seq: int):
    """(jitted value-and-grad, args) of ``sum(fn(q, k, v, mask) * w)``."""
    import jax
    import jax.numpy as jnp

    from qtn.models.attention import attention_mask_matrix

    keys = jax.random.split(jax.random.key(0), 4)
    q = jax.random.normal(keys[0], (rows, seq, HEADS, HEAD_DIM), jnp.float32)
    k = jax.random.normal(keys[1], (rows, seq, KV_HEADS, HEAD_DIM), jnp.float32)
    v = jax.random.normal(keys[2], (rows, seq, KV_HEADS, HEAD_DIM), jnp.float32)
    w = jax.random.normal(keys[3], (rows, seq, HEADS * HEAD_DIM), jnp.float32)
    slot = jnp.broadcast_to(jnp.arange(seq), (rows, seq))
    mask = attention_mask_matrix(slot, slot, jnp.ones((rows, seq), bool))
    grad = jax.jit(jax.value_and_grad(lambda q, k, v: jnp.sum(fn(q, k, v, mask) * w),
                                      argnums=(0, 1, 2)))
    return grad, (q, k, v)


def _torch_case(rows: int, seq: int):
    """A callable running SDPA forward + backward on tensors of the same shapes."""
    import torch

    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(rows, HEADS, seq, HEAD_DIM, generator=gen, requires_grad=True)
    k = torch.randn(rows, KV_HEADS, seq, HEAD_DIM, generator=gen, requires_grad=True)
    v = torch.randn(rows, KV_HEADS, seq, HEAD_DIM, generator=gen, requires_grad=True)
    w = torch.randn(rows, HEADS, seq, HEAD_DIM, generator=gen)
    group = HEADS // KV_HEADS

    def run() -> None:
        kr = k.repeat_interleave(group, dim=1)
        vr = v.repeat_interleave(group, dim=1)
        out = torch.nn.functional.scaled_dot_product_attention(q, kr, vr, is_causal=True)
        (out * w).sum().backward()
        q.grad = k.grad = v.grad = None

    return run


def _seconds(call) -> float:
    t = time.perf_counter()
    call()
    return time.perf_counter() - t


def measure(rows: int, seq: int) -> dict:
    """Median seconds per fwd+grad call of each formulation, calls alternating per round."""
    import jax
    import numpy as np

    from qtn.models.attention import CAUSAL_BLOCK, grouped_attention

    def head_major(q, k, v, mask):
        return grouped_attention(q, k, v, mask, causal_block=CAUSAL_BLOCK)

    cases = {"head-major": _jax_case(head_major, rows, seq),
             "token-major": _jax_case(token_major, rows, seq)}
    calls = {name: (lambda g=g, a=a: jax.block_until_ready(g(*a))) for name, (g, a) in
             cases.items()}
    calls["torch-sdpa"] = _torch_case(rows, seq)
    for call in calls.values():
        call()  # compile / warm up
    reps = max(3, 20 * 128 * 8 // (rows * seq))
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            times[name].append(sum(_seconds(call) for _ in range(reps)) / reps)
    new, old = (cases[n][0](*cases[n][1]) for n in ("head-major", "token-major"))
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(old), strict=True))
    return {"rows": rows, "seq": seq, "ms": {n: statistics.median(t) * 1e3 for n, t in
                                             times.items()},
            "max_abs_diff_vs_token_major": diff}


def render(out: dict) -> str:
    meta = out["meta"]
    lines = [
        "# Grouped-query attention, forward + gradient (SmolLM2-135M heads: 9 query, 3 KV, "
        "dim 64; fp32, causal)",
        "",
        f"Command: `{meta['command']}` — {meta['machine']} ({meta['cpu_flags']}), "
        f"{meta['date']}; load average {meta['loadavg_start'][0]:.1f} at start, "
        f"{meta['loadavg_end'][0]:.1f} at end. One decoder layer's attention (no projections); "
        f"median of {ROUNDS} rounds, the three alternating within each round.",
        "",
        "| rows x tokens | head-major (qtn) ms | token-major (before) ms | torch SDPA ms | "
        "head-major / token-major | head-major / torch | max abs diff |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in out["cases"]:
        ms = r["ms"]
        lines.append(
            f"| {r['rows']} x {r['seq']} | {ms['head-major']:.2f} | {ms['token-major']:.2f} | "
            f"{ms['torch-sdpa']:.2f} | {ms['head-major'] / ms['token-major']:.2f}x | "
            f"{ms['head-major'] / ms['torch-sdpa']:.2f}x | "
            f"{r['max_abs_diff_vs_token_major']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    load0 = os.getloadavg()
    out = {"cases": [measure(rows, seq) for rows, seq in SHAPES]}
    out["meta"] = run_meta("python benchmarks/bench_attention.py", load0)
    write_results(RESULTS, "attention", out, render(out))


if __name__ == "__main__":
    main()
