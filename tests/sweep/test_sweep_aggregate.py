"""Seed aggregation and the comparison with LoRA r=8, on hand-written results."""

import math

import pytest
from sweep_helpers import write_sweep

from qtn.sweep.aggregate import Stat, aggregate, compare, find_reference
from qtn.sweep.collect import collect


@pytest.fixture
def groups(tmp_path):
    return aggregate(collect(write_sweep(tmp_path)))


def test_stat():
    s = Stat.of([1.0, 2.0, 4.0, None, float("nan"), "x", True])
    assert s.n == 3 and s.mean == pytest.approx(7 / 3)
    assert s.std == pytest.approx(
        math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    )
    assert Stat.of([5]) == Stat(5.0, None, 1)
    assert Stat.of([]) == Stat(None, None, 0)


def test_groups(groups):
    assert [g.variant for g in groups] == [
        "none",
        "LoRA r=8",
        "LoRA r=4",
        "QTHA small",
        "QTHA large",
    ]
    none, lora8, lora4, small, large = groups
    assert lora8.stats["train_loss"].mean == pytest.approx(1.1)
    assert lora8.stats["train_loss"].std == pytest.approx(0.1)
    assert lora8.stats["metric"].mean == pytest.approx(0.82)
    assert lora8.stats["wall_time"] == Stat(11.0, 1.0, 3)
    assert lora8.rank == 8.0 and lora4.rank == 4.0 and small.rank is None
    assert small.n_done == 3 and small.n_failed == 1
    assert small.stats["train_flops"].mean == pytest.approx(2e9)
    assert lora8.stats["train_flops"].n == 0
    assert small.param_pct_of_lora_r8 == pytest.approx(20.0)
    assert none.param_pct_of_lora_r8 is None and none.method == "none"
    assert small.metric_name == "accuracy" and small.task == "sentiment"
    assert find_reference(groups, "sentiment") is lora8
    assert find_reference(groups, "sentiment", 4) is lora4
    assert find_reference(groups, "other") is None


def test_rank_inferred_from_params_without_override():
    rows = [
        {
            "status": "done",
            "task": "t",
            "variant": "v",
            "method": "lora",
            "trainable_params": 1600,
            "lora_r8_params": 800,
        },
    ]
    assert aggregate(rows)[0].rank == 16.0


def test_comparison_numbers_and_verdicts(groups):
    small, large = compare(groups)
    assert small.candidate.variant == "QTHA small" and small.reference.variant == "LoRA r=8"
    assert small.param_pct == pytest.approx(20.0)
    assert small.train_loss_pct == pytest.approx(100 * (0.9 - 1.1) / 1.1)
    assert small.eval_loss_pct == pytest.approx(100 * (1.4 - 1.5) / 1.5)
    assert small.metric_pts == pytest.approx(6.0)
    assert small.metric_pct == pytest.approx(100 * 0.06 / 0.82)
    assert small.verdict == "beats"
    assert large.param_pct == pytest.approx(50.0) and large.verdict == "does not match"
    assert compare(groups, methods=("mpo",)) == []


def test_within_noise_matches_and_lower_better_metric():
    def rows(variant, method, loss, metric, params):
        return [
            {
                "status": "done",
                "task": "t",
                "variant": variant,
                "method": method,
                "adapter.r": 8 if method == "lora" else None,
                "train_loss": x,
                "metric": m,
                "metric_name": "perplexity",
                "trainable_params": params,
                "lora_r8_params": 100,
            }
            for x, m in zip(loss, metric, strict=True)
        ]

    data = rows("L", "lora", [1.0, 1.2], [10.0, 12.0], 100) + rows(
        "Q", "qtha", [1.05, 1.15], [10.5, 11.5], 20
    )
    (c,) = compare(aggregate(data))
    assert c.verdict == "matches" and c.metric_pts is None
    worse_ppl = rows("L", "lora", [1.0], [10.0], 100) + rows("Q", "qtha", [0.9], [11.0], 20)
    assert compare(aggregate(worse_ppl))[0].verdict == "does not match"
    better_ppl = rows("L", "lora", [1.0], [10.0], 100) + rows("Q", "qtha", [0.9], [9.0], 20)
    assert compare(aggregate(better_ppl))[0].verdict == "beats"
