"""build_data: config dict -> encoded splits, fitted buckets, train/eval/choice/prompt batches."""

import numpy as np
import pytest

from qtn.data import DataConfig, build_data, padding_efficiency


def test_from_dict_splits_task_and_batching_options():
    c = DataConfig.from_dict(
        {"task": "sentiment", "n_train": 64, "n_eval": 16, "max_len": 96, "seed": 4}
    )
    assert c.task_options == {"n_train": 64, "n_eval": 16, "seed": 4}
    assert (c.max_len, c.seed, c.mode) == (96, 4, None)
    with pytest.raises(TypeError, match=r"unknown data option\(s\) \['n_trian'\]"):
        DataConfig.from_dict({"task": "sentiment", "n_trian": 5})


def test_sentiment_pipeline(chat_tokenizer):
    data = build_data(
        {"task": "sentiment", "n_train": 64, "n_eval": 16, "max_len": 128, "batch_size": 8},
        chat_tokenizer,
    )
    assert data.task.sizes() == {"train": 64, "val": 16, "test": 16}
    assert data.stats["train"].n_kept == 64 and len(data.buckets) <= 3 and data.buckets[-1] == 128
    it = data.train_iterator()
    batches = [next(it) for _ in range(it.steps_per_epoch())]
    stats = padding_efficiency(batches)
    assert stats["n_shapes"] <= 3 and stats["real_tokens"] == sum(
        len(e) for e in data.encoded["train"]
    )
    for b in batches:  # the only trained tokens are the label word(s) and eos
        words = {chat_tokenizer.decode(b["targets"][r][b["loss_mask"][r] == 1]) for r in range(8)}
        assert words <= {"positive<|im_end|>", "negative<|im_end|>", ""}
    choices, cit = data.choice_set("val")
    scores = np.full(len(choices.encoded), np.nan)
    for b in cit:  # scatter per-row scores; here a fake log-prob that favours the gold choice
        rows = b["example_index"] >= 0
        k = b["example_index"][rows]
        scores[k] = choices.choice_of[k] == choices.gold[choices.example_of[k]]
    assert not np.isnan(scores).any() and choices.accuracy(scores) == 1.0
    assert choices.accuracy(-scores) == 0.0 and len(choices.gold) == 16
    seen = np.concatenate([b["example_index"] for b in data.eval_iterator("test")])
    assert sorted(seen[seen >= 0]) == list(range(16))


def test_arithmetic_prompt_batches(tokenizer):
    data = build_data(
        {"task": "arithmetic", "n_train": 8, "n_eval": 5, "max_len": 64, "batch_size": 4}, tokenizer
    )
    batches, labels = data.prompt_batches("test")
    assert [b["input_ids"].shape[0] for b in batches] == [4, 4]
    assert list(batches[1]["example_index"]) == [4, -1, -1, -1]
    text = tokenizer.decode(batches[0]["input_ids"][0][batches[0]["attention_mask"][0] == 1])
    assert text == data.task.test[0].prompt and labels[0] == data.task.test[0].label


def test_hamlet_stream_pipeline(tokenizer):
    data = build_data({"task": "hamlet", "n_train": 4, "n_eval": 2, "max_len": 64}, tokenizer)
    assert data.buckets == (64,) and data.mode == "stream"  # default for perplexity tasks
    it = data.train_iterator()
    shapes = {next(it)["input_ids"].shape for _ in range(it.steps_per_epoch() + 2)}
    assert shapes == {(8, 64)}
