"""Padding, bucketing and packing of encoded examples into static-shape numpy batches.

Batch convention (every key is ``np.int32``; B = batch size, T = the batch's bucket length):

- ``input_ids`` (B, T): tokens fed to the model; right padding with the pad id.
- ``targets`` (B, T): the token position ``t`` is trained to predict, i.e. ``targets[:, t] ==
  input_ids[:, t + 1]`` for ``t < T - 1`` (pad id beyond the row). In ``stream`` mode the last
  column also holds the next token of the stream, so all T positions are trained.
- ``loss_mask`` (B, T): 1 where the loss at position ``t`` counts: ``targets[b, t]`` is a
  completion token or the closing eos (never a prompt token, never padding, never a token of the
  next packed example). A training loop computes
  ``nll = -log_softmax(logits)[b, t, targets[b, t]]`` and
  ``loss = sum(nll * loss_mask) / sum(loss_mask)`` — no shifting is needed or allowed.
- ``attention_mask`` (B, T): 1 on real tokens, 0 on padding.
- ``positions`` (B, T): position ids, restarting at 0 for every packed example (0 on padding).
- ``segment_ids`` (B, T): 1, 2, ... per packed example in a row, 0 on padding. A model that
  ignores it lets packed examples attend to each other (GPT-style packing); one that honours it
  masks attention to ``segment_ids[q] == segment_ids[k]``.
- ``example_index`` (B,): index of the row's (first) example in the encoded list, the window
  index in ``stream`` mode, and -1 for filler rows. Filler rows pad a short final batch to B:
  they copy row 0's tokens and masks with ``loss_mask = 0`` (so no attention row is all-masked,
  which would give NaN with -inf masks) and must be ignored by metrics.

Modes: ``bucket`` (one example per row, T = smallest bucket >= its length), ``pack``
(several whole examples per row of length max(buckets), best-fit), ``stream`` (all examples
concatenated and cut into windows of max(buckets); for language modelling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qtn.data.encoding import EncodedExample

BATCH_KEYS = (
    "input_ids",
    "targets",
    "loss_mask",
    "attention_mask",
    "positions",
    "segment_ids",
)


def power_of_two_buckets(max_len: int, min_len: int = 32) -> tuple[int, ...]:
    """Powers of two from ``min_len`` below ``max_len``, then ``max_len``: ``(32, 64, 128)``."""
    out, n = [], min_len
    while n < max_len:
        out.append(n)
        n *= 2
    return (*out, max_len)


def fit_buckets(
    lengths: Sequence[int], n_buckets: int, max_len: int, multiple: int = 16
) -> tuple[int, ...]:
    """At most ``n_buckets`` lengths (multiples of ``multiple``, the last = ``max_len``) that
    minimise the total padding of ``lengths`` (exact dynamic programme over candidate lengths).
    """
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be >= 1, got {n_buckets}")
    lengths = np.minimum(np.asarray(lengths, dtype=np.int64), max_len)
    cands = sorted({min(max_len, -(-int(n) // multiple) * multiple) for n in lengths} | {max_len})
    counts = np.array([np.sum(lengths <= c) for c in cands])
    sums = np.array([np.sum(lengths[lengths <= c]) for c in cands])
    m = len(cands)
    inf = np.iinfo(np.int64).max // 4

    def cost(i: int, j: int) -> int:  # padding of lengths in (cands[i], cands[j]] to cands[j]
        lo_n, lo_s = (counts[i], sums[i]) if i >= 0 else (0, 0)
        return int((counts[j] - lo_n) * cands[j] - (sums[j] - lo_s))

    # best[k, j]: least padding of all lengths <= cands[j] with k buckets, the largest cands[j]
    best = np.full((n_buckets + 1, m), inf, dtype=np.int64)
    prev = np.full((n_buckets + 1, m), -1, dtype=np.int64)
    for j in range(m):
        best[1, j] = cost(-1, j)
    for k in range(2, n_buckets + 1):
        for j in range(m):
            for i in range(j):
                c = best[k - 1, i] + cost(i, j)
                if c < best[k, j]:
                    best[k, j], prev[k, j] = c, i
    k = min(range(1, n_buckets + 1), key=lambda k: (best[k, m - 1], k))
    out, j = [], m - 1
    while j >= 0 and k >= 1:
        out.append(cands[j])
        j, k = int(prev[k, j]), k - 1
    return tuple(sorted(out))


def bucket_of(length: int, buckets: Sequence[int]) -> int:
    """Smallest bucket >= ``length`` (ValueError if none: encode with ``max_len`` <= max bucket)."""
    for b in buckets:
        if length <= b:
            return int(b)
    raise ValueError(f"sequence of {length} tokens exceeds the largest bucket {max(buckets)}")


@dataclass(frozen=True)
class BatchPlan:
    """What one batch holds: ``seq_len`` T and ``rows``, each a tuple of encoded example indices
    (``bucket``: one; ``pack``: several; ``stream``: one window index)."""

    seq_len: int
    rows: tuple[tuple[int, ...], ...]


def best_fit_rows(lengths: Sequence[int], order: Sequence[int], capacity: int) -> list[list[int]]:
    """Pack example indices (visited in ``order``) into rows of total length <= ``capacity``,
    each into the fullest row it fits (best fit); returns rows in creation order."""
    rows: list[list[int]] = []
    free: list[list[int]] = [[] for _ in range(capacity + 1)]  # free[r]: rows with r free slots
    for i in order:
        n = int(lengths[i])
        if n > capacity:
            raise ValueError(f"example {i} has {n} tokens > pack length {capacity}")
        r = next((r for r in range(n, capacity + 1) if free[r]), None)
        if r is None:
            rows.append([i])
            free[capacity - n].append(len(rows) - 1)
        else:
            row = free[r].pop()
            rows[row].append(i)
            free[r - n].append(row)
    return rows


def _empty_batch(batch_size: int, seq_len: int, pad: int) -> dict[str, np.ndarray]:
    batch = {k: np.zeros((batch_size, seq_len), np.int32) for k in BATCH_KEYS}
    batch["input_ids"][:] = pad
    batch["targets"][:] = pad
    batch["example_index"] = np.full((batch_size,), -1, np.int32)
    return batch


def _fill_rows(batch: dict[str, np.ndarray], n_real: int) -> dict[str, np.ndarray]:
    for k in BATCH_KEYS:
        batch[k][n_real:] = batch[k][0]
    batch["loss_mask"][n_real:] = 0
    return batch


def collate_rows(
    encoded: Sequence[EncodedExample],
    plan: BatchPlan,
    batch_size: int,
    pad: int,
) -> dict[str, np.ndarray]:
    """Materialise a ``bucket``/``pack`` plan into the batch dict described in the module doc."""
    if len(plan.rows) > batch_size:
        raise ValueError(f"{len(plan.rows)} rows > batch_size {batch_size}")
    T = plan.seq_len
    batch = _empty_batch(batch_size, T, pad)
    for b, row in enumerate(plan.rows):
        ids = np.concatenate([encoded[i].ids for i in row])
        tgt = np.concatenate([encoded[i].target for i in row])
        seg = np.concatenate([np.full(len(encoded[i]), s + 1, np.int32) for s, i in enumerate(row)])
        pos = np.concatenate([np.arange(len(encoded[i]), dtype=np.int32) for i in row])
        L = len(ids)
        if L > T:
            raise ValueError(f"row of {L} tokens does not fit seq_len {T}")
        batch["input_ids"][b, :L] = ids
        batch["targets"][b, : L - 1] = ids[1:]
        batch["loss_mask"][b, : L - 1] = tgt[1:] * (seg[1:] == seg[:-1])
        batch["attention_mask"][b, :L] = 1
        batch["positions"][b, :L] = pos
        batch["segment_ids"][b, :L] = seg
        batch["example_index"][b] = row[0]
    return _fill_rows(batch, len(plan.rows))


def stream_tokens(encoded: Sequence[EncodedExample]) -> tuple[np.ndarray, np.ndarray]:
    """All examples concatenated: ``(ids, target)`` each (N,) int32."""
    if not encoded:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return (
        np.concatenate([e.ids for e in encoded]).astype(np.int32),
        np.concatenate([e.target for e in encoded]).astype(np.int32),
    )


def n_stream_windows(n_tokens: int, seq_len: int) -> int:
    """Windows of ``seq_len`` inputs covering ``n_tokens - 1`` predictions (last one partial)."""
    return max(0, -(-(n_tokens - 1) // seq_len))


def collate_stream(
    stream: tuple[np.ndarray, np.ndarray], plan: BatchPlan, batch_size: int, pad: int
) -> dict[str, np.ndarray]:
    """Materialise a ``stream`` plan: row ``w`` is ``ids[w*T : w*T+T]`` with targets one ahead."""
    ids, tgt = stream
    T = plan.seq_len
    batch = _empty_batch(batch_size, T, pad)
    for b, (w,) in enumerate(plan.rows):
        x = ids[w * T : w * T + T]
        y = ids[w * T + 1 : w * T + T + 1]
        m = tgt[w * T + 1 : w * T + T + 1]
        batch["input_ids"][b, : len(x)] = x
        batch["targets"][b, : len(y)] = y
        batch["loss_mask"][b, : len(y)] = m
        batch["attention_mask"][b, : len(x)] = 1
        batch["positions"][b, : len(x)] = np.arange(len(x))
        batch["segment_ids"][b, : len(x)] = 1
        batch["example_index"][b] = w
    return _fill_rows(batch, len(plan.rows))


def token_counts(batch: dict[str, np.ndarray]) -> dict[str, int]:
    """``real``: non-pad tokens in non-filler rows; ``target``: loss tokens; ``padded``: B*T."""
    real_rows = (batch["example_index"] >= 0)[:, None]
    return {
        "real": int(np.sum(batch["attention_mask"] * real_rows)),
        "target": int(np.sum(batch["loss_mask"])),
        "padded": int(batch["input_ids"].size),
    }


def padding_efficiency(batches: Sequence[dict[str, np.ndarray]] | object) -> dict[str, float]:
    """Totals over batches: ``real / padded`` (``efficiency``), ``target / padded``, shapes."""
    real = target = padded = 0
    shapes: set[tuple[int, ...]] = set()
    n = 0
    for batch in batches:  # type: ignore[attr-defined]
        c = token_counts(batch)
        real, target, padded = real + c["real"], target + c["target"], padded + c["padded"]
        shapes.add(batch["input_ids"].shape)
        n += 1
    return {
        "batches": n,
        "real_tokens": real,
        "target_tokens": target,
        "padded_tokens": padded,
        "efficiency": real / padded if padded else float("nan"),
        "target_fraction": target / padded if padded else float("nan"),
        "n_shapes": len(shapes),
    }


def balanced_rows(n: int, max_rows: int, multiple: int = 8) -> int:
    """Rows per batch for ``n`` examples in batches of at most ``max_rows``: as few batches as
    ``max_rows`` allows, filled evenly (rounded up to ``multiple``), so the last batch is not
    mostly filler rows. ``balanced_rows(200, 64) == 56`` (4 batches)."""
    if n <= 0:
        return max(1, min(max_rows, multiple))
    batches = -(-n // max_rows)
    rows = -(-n // batches)
    return min(max_rows, -(-rows // multiple) * multiple)


def left_padded_prompt_batches(
    prompts: Sequence[np.ndarray],
    batch_size: int,
    buckets: Sequence[int],
    pad: int,
    *,
    balance: bool = False,
) -> list[dict[str, np.ndarray]]:
    """Prompt-only batches for generation, left-padded to a bucket length: prompts are grouped
    by bucket (smallest bucket >= their length; input order within a bucket), so there is one
    batch shape, hence one compiled generation program, per bucket used. ``balance``: each
    bucket's batches hold :func:`balanced_rows` of its prompts (at most ``batch_size``, a
    multiple of 4) instead of ``batch_size`` rows: a bucket of 25 prompts gets one batch of
    28 rows, not 64 (evaluation splits of ~100 examples spread over 4 buckets were mostly
    filler rows).

    Keys: ``input_ids``, ``attention_mask``, ``positions`` (0 on padding, 0.. on real tokens),
    all (B, T) int32, and ``example_index`` (B,) (-1 on filler rows, which copy row 0). Greedy
    decoding appends at column T for every row.
    """
    buckets = tuple(sorted(buckets))
    by_bucket: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_bucket.setdefault(bucket_of(len(p), buckets), []).append(i)
    out = []
    for T in sorted(by_bucket):
        idx = by_bucket[T]
        rows = balanced_rows(len(idx), batch_size, 4) if balance else batch_size
        for start in range(0, len(idx), rows):
            out.append(_left_padded(prompts, idx[start : start + rows], rows, T, pad))
    return out


def _left_padded(
    prompts: Sequence[np.ndarray], idx: Sequence[int], batch_size: int, T: int, pad: int
) -> dict[str, np.ndarray]:
    batch = {
        "input_ids": np.full((batch_size, T), pad, np.int32),
        "attention_mask": np.zeros((batch_size, T), np.int32),
        "positions": np.zeros((batch_size, T), np.int32),
        "example_index": np.full((batch_size,), -1, np.int32),
    }
    for b, i in enumerate(idx):
        L = len(prompts[i])
        batch["input_ids"][b, T - L :] = prompts[i]
        batch["attention_mask"][b, T - L :] = 1
        batch["positions"][b, T - L :] = np.arange(L)
        batch["example_index"][b] = i
    for k in ("input_ids", "attention_mask", "positions"):
        batch[k][len(idx) :] = batch[k][0]
    return batch
