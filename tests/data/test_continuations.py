"""encode_continuations / continuation_batches: gold and choice candidates after one prompt."""

import numpy as np

from qtn.data import build_data, encode_choices, encode_examples
from qtn.data.continuations import continuation_batches, encode_continuations


def test_candidates_are_the_loss_and_choice_tokens(chat_tokenizer):
    data = build_data({"task": "sentiment", "n_train": 8, "n_eval": 5, "max_len": 128},
                      chat_tokenizer)
    examples, task = data.task.val, data.task
    cs = encode_continuations(chat_tokenizer, examples, task.choices, task.choice_labels,
                              max_len=128)
    gold, _ = encode_examples(chat_tokenizer, examples, max_len=128)
    per_row = encode_choices(chat_tokenizer, examples, task.choices, task.choice_labels,
                             max_len=128)
    assert len(cs) == 5 and cs.n_choices == 2
    np.testing.assert_array_equal(cs.gold_choice, per_row.gold)
    for i, enc in enumerate(gold):
        np.testing.assert_array_equal(cs.prompts[i], enc.ids[: enc.prompt_len])
        np.testing.assert_array_equal(cs.candidates[i][0], enc.ids[enc.prompt_len :])
        assert cs.candidates[i][0][-1] == chat_tokenizer.eos_token_id  # completion + eos
        for j in range(2):
            row = per_row.encoded[2 * i + j]
            np.testing.assert_array_equal(cs.candidates[i][1 + j], row.ids[row.prompt_len :])
    batches = continuation_batches(cs, batch_size=4, n_buckets=1, pad=0)
    assert [b["input_ids"].shape[0] for b in batches] == [4, 4]
    b = batches[1]
    assert list(b["example_index"]) == [4, -1, -1, -1]
    L = b["cand_ids"].shape[2]
    assert b["cand_ids"].shape == (4, 3, L) and b["cand_mask"][1:].sum() == 0
    n0 = len(cs.candidates[4][0])
    assert b["cand_mask"][0, 0].tolist() == [1] * n0 + [0] * (L - n0)
    assert b["attention_mask"][0].sum() == len(cs.prompts[4])  # left-padded prompt
