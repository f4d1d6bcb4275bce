"""Batches: the shift convention, loss only on completions, few static shapes, packing."""

import numpy as np
import pytest

from qtn.data import (
    BatchIterator,
    Example,
    balanced_rows,
    encode_examples,
    fit_buckets,
    left_padded_prompt_batches,
    padding_efficiency,
    power_of_two_buckets,
)
from qtn.data.arithmetic import arithmetic_task


@pytest.fixture(scope="module")
def encoded(tokenizer):
    task = arithmetic_task(seed=0, n_train=203, n_eval=5)
    enc, stats = encode_examples(tokenizer, task.train, max_len=64)
    assert stats.n_kept == 203
    return enc


def _all(it):
    return list(it.epoch_batches(0))


def test_power_of_two_and_fitted_buckets():
    assert power_of_two_buckets(128) == (32, 64, 128)
    assert power_of_two_buckets(100) == (32, 64, 100)
    assert fit_buckets([10, 20, 30, 100], 2, 128) == (32, 128)
    assert fit_buckets([10, 20, 30, 100], 1, 128) == (128,)
    assert fit_buckets([5, 5, 5], 4, 64) == (16, 64)


@pytest.mark.parametrize("mode", ["bucket", "pack"])
def test_shift_convention_and_loss_only_on_completions(encoded, mode):
    it = BatchIterator(encoded, batch_size=8, buckets=(32, 48, 64), pad_id=3, mode=mode, seed=1)
    batches = _all(it)
    n_target = 0
    for b in batches:
        assert set(b) == {
            "input_ids",
            "targets",
            "loss_mask",
            "attention_mask",
            "positions",
            "segment_ids",
            "example_index",
        }
        assert all(v.dtype == np.int32 for v in b.values())
        B, T = b["input_ids"].shape
        real = b["example_index"] >= 0
        # targets[t] == input_ids[t+1] wherever both are real tokens
        both = (b["attention_mask"][:, 1:] == 1) & real[:, None]
        assert np.all((b["targets"][:, :-1] == b["input_ids"][:, 1:])[both])
        assert np.all(b["loss_mask"][:, -1] == 0) and np.all(b["loss_mask"][~real] == 0)
        assert np.all(b["loss_mask"] <= b["attention_mask"])
        n_target += int(b["loss_mask"].sum())
    # every completion token + eos is predicted exactly once per epoch
    assert n_target == sum(int(e.target.sum()) for e in encoded)


def test_loss_positions_are_exactly_completion_tokens(tokenizer):
    ex = [Example("Compute 1+2.\n", "1+2=3. Answer: 3"), Example("Compute 2*5.\n", "Answer: 10")]
    enc, _ = encode_examples(tokenizer, ex)
    for mode in ("bucket", "pack"):
        (b,) = _all(
            BatchIterator(enc, batch_size=2, buckets=(64,), pad_id=3, mode=mode, shuffle=False)
        )
        predicted = [tokenizer.decode(b["targets"][r][b["loss_mask"][r] == 1]) for r in range(2)]
        if mode == "bucket":
            assert predicted == ["1+2=3. Answer: 3<|im_end|>", "Answer: 10<|im_end|>"]
        else:  # one packed row, no loss across the boundary; row 1 is a filler row
            assert predicted == ["1+2=3. Answer: 3<|im_end|>Answer: 10<|im_end|>", ""]
            assert list(np.unique(b["segment_ids"][0])) == [0, 1, 2]
            start2 = int(np.argmax(b["segment_ids"][0] == 2))
            assert b["positions"][0, start2] == 0 and b["loss_mask"][0, start2 - 1] == 0


def test_bucketing_bounds_shapes_and_efficiency(encoded):
    buckets = fit_buckets([len(e) for e in encoded], 3, 64)
    it = BatchIterator(encoded, batch_size=8, buckets=buckets, pad_id=3, seed=0)
    stats = padding_efficiency(_all(it))
    assert stats["n_shapes"] <= 3 and len(it.shapes()) <= 3
    assert stats["real_tokens"] == sum(len(e) for e in encoded)
    single = padding_efficiency(_all(BatchIterator(encoded, batch_size=8, buckets=(64,), pad_id=3)))
    assert single["n_shapes"] == 1
    assert stats["efficiency"] > single["efficiency"]
    packed_batches = _all(
        BatchIterator(encoded, batch_size=8, buckets=(128,), pad_id=3, mode="pack")
    )
    packed = padding_efficiency(packed_batches)
    assert packed["n_shapes"] == 1 and packed["real_tokens"] == stats["real_tokens"]
    rows = sum(int((b["example_index"] >= 0).sum()) for b in packed_batches)
    assert -(-stats["real_tokens"] // 128) == 58 and rows == 61  # lower bound 58 rows


def test_filler_rows_copy_row0_without_loss(encoded):
    it = BatchIterator(encoded[:11], batch_size=8, buckets=(64,), pad_id=3, shuffle=False)
    last = _all(it)[-1]
    assert list(last["example_index"]) == [8, 9, 10, -1, -1, -1, -1, -1]
    np.testing.assert_array_equal(last["input_ids"][3:], np.repeat(last["input_ids"][:1], 5, 0))
    assert last["loss_mask"][3:].sum() == 0 and last["attention_mask"][3:].all(axis=0).sum() > 0
    assert (
        len(
            _all(BatchIterator(encoded[:11], batch_size=8, buckets=(64,), pad_id=3, drop_last=True))
        )
        == 1
    )


def test_stream_mode_predicts_every_token_once(tokenizer):
    ex = [Example("", "Who's there? Nay, answer me: stand, and unfold yourself.")] * 7
    enc, _ = encode_examples(tokenizer, ex)
    stream = np.concatenate([e.ids for e in enc])
    batches = _all(
        BatchIterator(enc, batch_size=4, buckets=(16,), pad_id=3, mode="stream", shuffle=False)
    )
    assert {b["input_ids"].shape for b in batches} == {(4, 16)}
    assert sum(int(b["loss_mask"].sum()) for b in batches) == len(stream) - 1
    first = batches[0]
    np.testing.assert_array_equal(first["input_ids"][1], stream[16:32])
    np.testing.assert_array_equal(
        first["targets"][1], stream[17:33]
    )  # last column = next window's first


def test_left_padded_prompts():
    prompts = [
        np.arange(1, 4, dtype=np.int32),
        np.arange(1, 7, dtype=np.int32),
        np.arange(1, 2, dtype=np.int32),
    ]
    (b1, b2) = left_padded_prompt_batches(prompts, 2, (4, 8), pad=0)  # one batch per bucket
    assert b1["input_ids"].shape == (2, 4) and b2["input_ids"].shape == (2, 8)
    np.testing.assert_array_equal(b1["input_ids"], [[0, 1, 2, 3], [0, 0, 0, 1]])
    np.testing.assert_array_equal(b2["input_ids"][0], [0, 0, 1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(b2["positions"][0], [0, 0, 0, 1, 2, 3, 4, 5])
    assert list(b1["example_index"]) == [0, 2] and list(b2["example_index"]) == [1, -1]


def test_balanced_prompt_batches_fill_each_bucket_evenly():
    """balance: a bucket's batches hold balanced_rows of its prompts (multiple of 4), not
    batch_size rows each; every prompt appears once; without it every batch has batch_size."""
    prompts = [np.arange(1, 3)] * 5 + [np.arange(1, 8)] * 70  # 5 short, 70 long
    plain = left_padded_prompt_batches(prompts, 64, (4, 8), pad=0)
    assert [b["input_ids"].shape for b in plain] == [(64, 4), (64, 8), (64, 8)]
    balanced = left_padded_prompt_batches(prompts, 64, (4, 8), pad=0, balance=True)
    assert [b["input_ids"].shape for b in balanced] == [(8, 4), (36, 8), (36, 8)]
    seen = sorted(int(i) for b in balanced for i in b["example_index"] if i >= 0)
    assert seen == list(range(75))
    assert balanced_rows(25, 64, 4) == 28 and balanced_rows(70, 64, 4) == 36
