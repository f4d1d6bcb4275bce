"""Deterministic, resumable batch iterator over encoded examples.

The batch order of epoch ``e`` is a pure function of ``(data, options, seed, e)``: it is drawn
from ``np.random.default_rng([seed, e])``. The iterator's whole state is therefore
:class:`IteratorState` ``(epoch, position, seed)`` — ``position`` = index within the epoch of the
*next* batch — which round-trips through JSON; a resumed iterator yields exactly the batches an
uninterrupted one would have yielded.

Training-loop usage::

    it = BatchIterator(encoded, batch_size=8, buckets=(32, 64, 128), pad_id=pad, seed=0)
    if resuming:
        it.restore(IteratorState.from_json(ckpt["data_state"]))
    for step in range(start_step, n_steps):
        batch = next(it)                     # dict of np.int32 arrays, see qtn.data.batching
        ... train on batch ...
        ckpt["data_state"] = it.state.to_json()   # save *after* consuming the batch
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from qtn.data.batching import (
    BatchPlan,
    best_fit_rows,
    bucket_of,
    collate_rows,
    collate_stream,
    n_stream_windows,
    stream_tokens,
)
from qtn.data.encoding import EncodedExample

Mode = Literal["bucket", "pack", "stream"]


@dataclass(frozen=True)
class IteratorState:
    """Where an iterator stands: the next batch is batch ``position`` of epoch ``epoch``.

    ``fingerprint`` identifies the data and batching options; restoring a state onto different
    data raises instead of silently yielding other batches.
    """

    epoch: int
    position: int
    seed: int
    fingerprint: str = ""

    def to_json(self) -> str:
        """JSON text, e.g. ``{"epoch": 1, "position": 17, "seed": 0, "fingerprint": "..."}``."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IteratorState:
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))


class BatchIterator:
    """Infinite (or ``epochs``-limited) iterator of static-shape batches.

    Args:
        encoded: examples from :func:`qtn.data.encode_examples` (each no longer than
            ``max(buckets)``, except in ``stream`` mode).
        batch_size: rows per batch B; every batch has exactly B rows (filler rows, marked by
            ``example_index == -1`` and ``loss_mask == 0``, complete a short last batch unless
            ``drop_last``).
        buckets: allowed sequence lengths T (sorted); ``pack``/``stream`` use only the largest.
            Distinct batch shapes are at most ``len(buckets)`` (1 for pack/stream).
        pad_id: token id written on padding (:func:`qtn.data.encoding.pad_id`).
        mode: ``bucket`` | ``pack`` | ``stream`` (see :mod:`qtn.data.batching`).
        shuffle: False gives a fixed order (bucket by bucket, examples in input order) — use it
            for evaluation. seed: shuffling seed. epochs: stop after this many (None = forever).
        drop_last: drop incomplete batches instead of padding them with filler rows.
    """

    def __init__(
        self,
        encoded: Sequence[EncodedExample],
        *,
        batch_size: int,
        buckets: Sequence[int],
        pad_id: int,
        mode: Mode = "bucket",
        shuffle: bool = True,
        seed: int = 0,
        epochs: int | None = None,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if mode not in ("bucket", "pack", "stream"):
            raise ValueError(f"mode must be bucket/pack/stream, got {mode!r}")
        if not encoded:
            raise ValueError("no examples to iterate over")
        self.encoded = list(encoded)
        self.batch_size = batch_size
        self.buckets = tuple(sorted(int(b) for b in buckets))
        self.pad_id = int(pad_id)
        self.mode = mode
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epochs = epochs
        self.drop_last = drop_last
        self.lengths = np.array([len(e) for e in self.encoded], dtype=np.int64)
        self._stream = stream_tokens(self.encoded) if mode == "stream" else None
        self._fingerprint = self._compute_fingerprint()
        self._epoch, self._position = 0, 0
        self._plan_cache: tuple[int, list[BatchPlan]] | None = None

    # -- planning --------------------------------------------------------------------------

    def _compute_fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(repr((self.batch_size, self.buckets, self.mode, self.shuffle)).encode())
        h.update(repr(self.drop_last).encode())
        for e in self.encoded:
            h.update(e.ids.tobytes())
            h.update(e.target.tobytes())
        return h.hexdigest()[:16]

    def _chunk(self, seq_len: int, rows: list[tuple[int, ...]]) -> list[BatchPlan]:
        B = self.batch_size
        plans = [BatchPlan(seq_len, tuple(rows[i : i + B])) for i in range(0, len(rows), B)]
        if self.drop_last and plans and len(plans[-1].rows) < B:
            plans.pop()
        return plans

    def plan(self, epoch: int) -> list[BatchPlan]:
        """The batches of ``epoch`` (deterministic; cached for the current epoch)."""
        if self._plan_cache is not None and self._plan_cache[0] == epoch:
            return self._plan_cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        n, T = len(self.encoded), self.buckets[-1]
        if self.mode == "stream":
            assert self._stream is not None
            w = n_stream_windows(len(self._stream[0]), T)
            order = rng.permutation(w) if self.shuffle else np.arange(w)
            plans = self._chunk(T, [(int(i),) for i in order])
        elif self.mode == "pack":
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            rows = [tuple(r) for r in best_fit_rows(self.lengths, order, T)]
            plans = self._chunk(T, rows)
        else:
            plans = []
            assigned = np.array([bucket_of(int(n_), self.buckets) for n_ in self.lengths])
            for b in self.buckets:
                idx = np.flatnonzero(assigned == b)
                idx = rng.permutation(idx) if self.shuffle else idx
                plans += self._chunk(b, [(int(i),) for i in idx])
        if self.shuffle:
            plans = [plans[i] for i in rng.permutation(len(plans))]
        self._plan_cache = (epoch, plans)
        return plans

    def steps_per_epoch(self, epoch: int | None = None) -> int:
        """Batches in ``epoch`` (default: the current one). Constant across epochs except in
        ``pack`` mode, where the number of packed rows depends on the shuffled order."""
        return len(self.plan(self._epoch if epoch is None else epoch))

    def shapes(self) -> set[tuple[int, int]]:
        """The distinct (B, T) shapes this iterator can produce."""
        if self.mode != "bucket":
            return {(self.batch_size, self.buckets[-1])}
        used = {bucket_of(int(n), self.buckets) for n in self.lengths}
        return {(self.batch_size, t) for t in sorted(used)}

    def collate(self, plan: BatchPlan) -> dict[str, np.ndarray]:
        """Materialise one planned batch."""
        if self.mode == "stream":
            assert self._stream is not None
            return collate_stream(self._stream, plan, self.batch_size, self.pad_id)
        return collate_rows(self.encoded, plan, self.batch_size, self.pad_id)

    def epoch_batches(self, epoch: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """All batches of one epoch, without touching the iterator's state (for evaluation)."""
        for p in self.plan(epoch):
            yield self.collate(p)

    # -- resumable iteration ---------------------------------------------------------------

    @property
    def state(self) -> IteratorState:
        """State to checkpoint: the next call to ``next`` yields batch ``position`` of ``epoch``."""
        return IteratorState(self._epoch, self._position, self.seed, self._fingerprint)

    def restore(self, state: IteratorState) -> None:
        """Continue from ``state`` (same data and options required; seed is taken from it)."""
        if state.fingerprint and state.fingerprint != self._fingerprint:
            raise ValueError(
                f"iterator state is for other data/options (fingerprint {state.fingerprint} "
                f"!= {self._fingerprint})"
            )
        self.seed = int(state.seed)
        self._fingerprint = self._compute_fingerprint()
        self._epoch, self._position = int(state.epoch), int(state.position)
        self._plan_cache = None

    def peek(self, n: int) -> list[dict[str, np.ndarray]]:
        """The next ``n`` batches (fewer if the iterator ends first) without moving: a run
        knows every batch shape it will see before its first step."""
        epoch, position = self._epoch, self._position
        out = []
        try:
            for _ in range(n):
                out.append(next(self))
        except StopIteration:
            pass
        finally:
            self._epoch, self._position = epoch, position
        return out

    def __iter__(self) -> BatchIterator:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        while True:
            if self.epochs is not None and self._epoch >= self.epochs:
                raise StopIteration
            plans = self.plan(self._epoch)
            if self._position < len(plans):
                break
            if not plans:
                raise StopIteration
            self._epoch, self._position = self._epoch + 1, 0
        batch = self.collate(plans[self._position])
        self._position += 1
        return batch
