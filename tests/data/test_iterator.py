"""Resumable iterator: a resumed run sees exactly the batches of an uninterrupted one."""

import numpy as np
import pytest

from qtn.data import BatchIterator, IteratorState, encode_examples
from qtn.data.arithmetic import arithmetic_task


@pytest.fixture(scope="module")
def encoded(tokenizer):
    return encode_examples(
        tokenizer, arithmetic_task(seed=0, n_train=77, n_eval=1).train, max_len=64
    )[0]


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "mode, buckets",
    [("bucket", (32, 48, 64)), ("pack", (32, 48, 64)), ("pack", (160,)), ("stream", (32, 48, 64))],
)
@pytest.mark.parametrize("stop", [0, 3, 10, 23])
def test_resume_equals_uninterrupted(encoded, mode, buckets, stop):
    # pack with buckets (160,): rows of pack_len 160 holding several examples of <= 64 tokens
    kw = dict(batch_size=4, buckets=buckets, pad_id=3, mode=mode, seed=11)
    ref = BatchIterator(encoded, **kw)
    reference = [next(ref) for _ in range(40)]  # crosses several epoch boundaries
    first = BatchIterator(encoded, **kw)
    for _ in range(stop):
        next(first)
    saved = first.state.to_json()
    resumed = BatchIterator(encoded, **kw)
    resumed.restore(IteratorState.from_json(saved))
    rest = [next(resumed) for _ in range(40 - stop)]
    assert all(_same(a, b) for a, b in zip(reference[stop:], rest, strict=True))


def test_epochs_cover_every_example_once_and_reshuffle(encoded):
    it = BatchIterator(encoded, batch_size=4, buckets=(32, 48, 64), pad_id=3, seed=0, epochs=2)
    n = it.steps_per_epoch()
    batches = list(it)
    assert len(batches) == 2 * n and it.state.epoch == 2 and it.state.position == 0
    for epoch in (batches[:n], batches[n:]):
        seen = np.concatenate([b["example_index"] for b in epoch])
        assert sorted(seen[seen >= 0]) == list(range(len(encoded)))
    order = [np.concatenate([b["example_index"] for b in e]) for e in (batches[:n], batches[n:])]
    assert not np.array_equal(order[0], order[1])


def test_state_json_and_mismatch(encoded):
    it = BatchIterator(encoded, batch_size=4, buckets=(64,), pad_id=3, seed=5)
    next(it), next(it)
    s = it.state
    assert (s.epoch, s.position, s.seed) == (0, 2, 5)
    assert IteratorState.from_json(s.to_json()) == s
    other = BatchIterator(encoded[:-1], batch_size=4, buckets=(64,), pad_id=3, seed=5)
    with pytest.raises(ValueError, match="other data/options"):
        other.restore(s)
    other2 = BatchIterator(encoded, batch_size=4, buckets=(64,), pad_id=3, seed=0)
    other2.restore(s)  # the seed comes from the state
    assert _same(next(other2), next(it))
