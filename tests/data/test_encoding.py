"""Encoding: target mask covers exactly completion + eos; prompt formats; truncation policy."""

import numpy as np
import pytest

from qtn.data import Example, encode_choices, encode_example, encode_examples, encode_prompts

EX = Example("Review: A mess.\nAnswer:", " negative", "negative")


@pytest.mark.parametrize("fmt", ["plain", "chat"])
def test_target_mask_is_completion_plus_eos(chat_tokenizer, fmt):
    tok = chat_tokenizer
    e = encode_example(tok, EX, prompt_format=fmt)
    targets = e.ids[e.target == 1]
    assert targets[-1] == tok.eos_token_id
    assert tok.decode(targets[:-1]).strip() == "negative"
    assert np.all(e.target[: e.prompt_len] == 0) and np.all(e.target[e.prompt_len :] == 1)
    prompt_text = tok.decode(e.ids[: e.prompt_len])
    if fmt == "chat":
        assert (
            prompt_text
            == "<|im_start|>user\nReview: A mess.\nAnswer:<|im_end|>\n<|im_start|>assistant\n"
        )
    else:
        assert prompt_text == "Review: A mess.\nAnswer:"
    assert e.ids.dtype == np.int32 and e.target.dtype == np.int32


def test_auto_format_and_lm_examples(tokenizer, chat_tokenizer):
    assert (
        encode_example(tokenizer, EX).prompt_len
        == encode_example(chat_tokenizer, EX, prompt_format="plain").prompt_len
    )
    lm = encode_example(chat_tokenizer, Example("", "Who's there?"))  # empty prompt stays plain
    assert lm.prompt_len == 0 and np.all(lm.target == 1)
    assert chat_tokenizer.decode(lm.ids) == "Who's there?<|im_end|>"
    with pytest.raises(ValueError, match="no chat template"):
        encode_example(tokenizer, EX, prompt_format="chat")


def test_truncation_middle_keeps_completion_and_prompt_ends(tokenizer):
    long = Example("Classify this. " + "the film " * 60 + "Answer:", " positive", "positive")
    full = encode_example(tokenizer, long)
    e = encode_example(tokenizer, long, max_len=40)
    assert len(full) > 40 and len(e) == 40 and e.truncated
    n_c = int(full.target.sum())
    np.testing.assert_array_equal(e.ids[-n_c:], full.ids[-n_c:])  # completion + eos intact
    keep = 40 - n_c
    np.testing.assert_array_equal(e.ids[: keep // 2], full.ids[: keep // 2])  # head kept
    np.testing.assert_array_equal(
        e.ids[keep // 2 : keep], full.ids[full.prompt_len - (keep - keep // 2) : full.prompt_len]
    )
    assert encode_example(tokenizer, long, max_len=40, truncation="drop") is None
    with pytest.raises(ValueError, match="> max_len=40"):
        encode_example(tokenizer, long, max_len=40, truncation="error")
    enc, stats = encode_examples(tokenizer, [long, EX], max_len=40, truncation="drop")
    assert (stats.n_in, stats.n_kept, stats.n_dropped, stats.n_truncated) == (2, 1, 1, 0)


def test_truncation_of_overlong_completion(tokenizer):
    lm = Example("Say:", " the film" * 50)
    e = encode_example(tokenizer, lm, max_len=16)
    assert (
        len(e) == 16
        and e.prompt_len == len(tokenizer.encode("Say:"))
        and e.ids[-1] != tokenizer.eos_token_id
    )


def test_choices_and_prompts(chat_tokenizer):
    exs = [EX, Example("Review: Great!\nAnswer:", " positive", "positive")]
    cs = encode_choices(chat_tokenizer, exs, (" positive", " negative"), ("positive", "negative"))
    assert list(cs.example_of) == [0, 0, 1, 1] and list(cs.choice_of) == [0, 1, 0, 1]
    assert list(cs.gold) == [1, 0]
    assert [chat_tokenizer.decode(e.ids[e.target == 1]) for e in cs.encoded[:2]] == [
        "positive",
        "negative",
    ]
    assert cs.accuracy(np.array([-1.0, -2.0, -1.0, -2.0])) == 0.5
    assert cs.accuracy(np.array([-3.0, -2.0, -1.0, -2.0])) == 1.0
    prompts = encode_prompts(chat_tokenizer, exs)
    np.testing.assert_array_equal(prompts[0], cs.encoded[0].ids[: cs.encoded[0].prompt_len])


def test_system_prompt_in_chat_format(chat_tokenizer):
    e = encode_example(chat_tokenizer, EX, prompt_format="chat", system_prompt="Be brief.")
    assert chat_tokenizer.decode(e.ids[: e.prompt_len]).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nReview: A mess."
    )
    assert chat_tokenizer.decode(e.ids[e.target == 1]) == "negative<|im_end|>"
