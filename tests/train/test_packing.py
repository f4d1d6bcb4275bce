"""Packed SFT rows: every example in a packed row gets the loss it gets alone (segments mask
attention, positions restart, only completion tokens count), on both loss paths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtn.data import build_data, padding_efficiency
from qtn.data.batching import BatchPlan, collate_rows
from qtn.train.loss import position_nll, select_loss_positions


@pytest.fixture(scope="module")
def tiny_and_tokenizer(tiny_checkpoint):
    from qtn.hf import from_pretrained

    return from_pretrained(tiny_checkpoint)


@pytest.fixture(scope="module")
def nll_fn(tiny_and_tokenizer):
    model = tiny_and_tokenizer[0]
    return jax.jit(lambda arrays: position_nll(model, arrays))


def _segment_losses(nll_fn, batch, select):
    """Summed NLL of each (row, segment) of ``batch``: {(row, segment): (nll, tokens)}."""
    arrays = {k: jnp.asarray(v) for k, v in batch.items() if k != "example_index"}
    if select:
        arrays.update({k: jnp.asarray(v) for k, v in select_loss_positions(batch).items()})
        flat = np.asarray(select_loss_positions(batch)["loss_index"])
    else:
        flat = np.arange(batch["loss_mask"].size)
    nll, weight, _ = (np.asarray(a, np.float64) for a in nll_fn(arrays))
    B, T = batch["loss_mask"].shape
    seg = batch["segment_ids"].reshape(-1)[flat]
    out: dict[tuple[int, int], list[float]] = {}
    for k, pos in enumerate(flat):
        if weight[k] > 0:
            acc = out.setdefault((int(pos // T), int(seg[k])), [0.0, 0.0])
            acc[0] += nll[k]
            acc[1] += 1
    return out


@pytest.mark.parametrize("select", [False, True])
def test_packed_example_loss_equals_alone(tiny_and_tokenizer, nll_fn, select):
    tok = tiny_and_tokenizer[1]
    data = build_data(
        {"task": "arithmetic", "n_train": 16, "n_eval": 2, "max_len": 96, "batch_size": 2,
         "mode": "pack", "pack_len": 192},
        tok,
    )
    enc = data.encoded["train"]
    batch = next(data.train_iterator())
    packed = _segment_losses(nll_fn, batch, select)
    rows = [data.train_iterator().plan(0)[0].rows[r] for r in range(2)]
    assert sum(len(r) for r in rows) >= 4  # several examples per row
    for r, row in enumerate(rows):
        assert list(np.unique(batch["segment_ids"][r][batch["attention_mask"][r] == 1])) == list(
            range(1, len(row) + 1)
        )
        for s, i in enumerate(row, start=1):
            alone = collate_rows(enc, BatchPlan(96, ((i,),)), 1, data.pad)  # right-padded
            (nll, n), = _segment_losses(nll_fn, alone, select).values()
            got_nll, got_n = packed[(r, s)]
            assert got_n == n == int(enc[i].target.sum())  # completion tokens + eos only
            assert abs(got_nll - nll) <= 1e-5 * max(1.0, n)


def test_pack_len_rows_fill_and_shape(tiny_and_tokenizer):
    _, tok = tiny_and_tokenizer
    cfg = {"task": "arithmetic", "n_train": 160, "n_eval": 2, "max_len": 96, "batch_size": 2}
    bucketed = build_data(cfg, tok)
    packed = build_data({**cfg, "mode": "pack", "pack_len": 384}, tok)
    assert packed.buckets == (384,)
    it = packed.train_iterator()
    batches = list(it.epoch_batches(0))
    stats = padding_efficiency(batches)
    assert stats["n_shapes"] == 1 and {b["input_ids"].shape for b in batches} == {(2, 384)}
    assert stats["real_tokens"] == sum(len(e) for e in packed.encoded["train"])
    bucket_eff = padding_efficiency(bucketed.train_iterator().epoch_batches(0))["efficiency"]
    assert stats["efficiency"] > 0.95 > 0.8 > bucket_eff
    for b in batches:  # positions restart at every example
        starts = np.flatnonzero(np.diff(b["segment_ids"][0], prepend=0) > 0)
        assert all(b["positions"][0][s] == 0 for s in starts)
