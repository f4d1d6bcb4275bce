"""Each task owns its exact-match scorer: text for JSONL, ``Answer: <int>`` for arithmetic."""

import json

import numpy as np
import pytest

from qtn.data import AnswerTag, TextMatch, arithmetic_task, build_data, exact_match, jsonl_task
from qtn.data.scoring import cut_at_end_of_turn, match_rate, matches
from qtn.train.evaluate import exact_match_accuracy

WORDS = ["yes", "no", "maybe"]


def _word_task(tmp_path, n=30, **options):
    lines = [
        json.dumps({"prompt": f"Question {i}?\nAnswer:", "completion": f" {WORDS[i % 3]}"})
        for i in range(n)
    ]
    path = tmp_path / "words.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return jsonl_task(path=str(path), seed=0, **options)


def test_tasks_own_their_scorers(tmp_path):
    assert arithmetic_task(n_train=2, n_eval=1).scorer == AnswerTag()
    task = _word_task(tmp_path, case_sensitive=False)
    assert task.scorer == TextMatch(case_sensitive=False, answer_regex=None)
    assert {e.label for e in task.train} == set(WORDS)


def test_word_labels_score_one_when_reproduced_and_zero_otherwise(tmp_path):
    task = _word_task(tmp_path)
    test = task.test
    labels = [e.label for e in test]
    assert task.scorer.score([e.completion for e in test], labels) == 1.0
    assert task.scorer.score([e.completion + "\nmore text" for e in test], labels) == 1.0
    wrong = [" " + WORDS[(WORDS.index(lab) + 1) % 3] for lab in labels]
    assert task.scorer.score(wrong, labels) == 0.0
    half = [
        e.completion if i % 2 == 0 else w for i, (e, w) in enumerate(zip(test, wrong, strict=True))
    ]
    assert task.scorer.score(half, labels) == pytest.approx(np.ceil(len(test) / 2) / len(test))
    # the arithmetic scorer (what every jsonl task used to get) scores the same words 0
    assert exact_match([e.completion for e in test], labels) == 0.0


def test_generator_stub_through_prompt_batches(tmp_path, tokenizer):
    """The metric path of a run: prompt batches -> generate(batch) -> the task's scorer."""
    path = tmp_path / "words.jsonl"
    _word_task(tmp_path)
    data = build_data(
        {"task": "jsonl", "path": str(path), "max_len": 32, "batch_size": 4}, tokenizer
    )
    batches, labels = data.prompt_batches("test")
    completions = [e.completion for e in data.task.test]

    def stub(answer):
        def gen(batch):
            return [answer(int(i)) if i >= 0 else "" for i in batch["example_index"]]

        return gen

    right = stub(lambda i: completions[i] + "<|im_end|> junk")
    value, texts = exact_match_accuracy(right, batches, labels, data.task.scorer.score)
    assert value == 1.0 and texts[0].startswith(completions[0])
    wrong = stub(lambda i: " perhaps")
    assert exact_match_accuracy(wrong, batches, labels, data.task.scorer.score)[0] == 0.0


@pytest.mark.parametrize(
    "scorer, generated, label, expected",
    [
        (TextMatch(), " positive", "positive", True),
        (TextMatch(), "\n  positive  \nNegative", "positive", True),  # first non-empty line
        (TextMatch(), "positive review", "positive", False),
        (TextMatch(), "positive<|im_end|>negative", "positive", True),
        (TextMatch(), "Positive", "positive", False),
        (TextMatch(case_sensitive=False), " POSITIVE", "Positive", True),
        (TextMatch(), "", "positive", False),
        (TextMatch(), " positive", None, False),
        (TextMatch(answer_regex=r"Answer:\s*(\w+)"), "so\nthus... Answer: Paris.", "Paris", True),
        (TextMatch(answer_regex=r"Answer:\s*(\w+)"), "Paris", "Paris", False),  # no match
        (TextMatch(answer_regex=r"\d+"), "it is 42 or 43", "42", True),  # whole first match
        (TextMatch(answer_regex=r"(?:A|B): (\w+)", case_sensitive=False), "B: YES", "yes", True),
    ],
)
def test_text_match_normalisation(scorer, generated, label, expected):
    assert matches(scorer, generated, label) is expected


def test_text_match_extract_and_errors():
    assert TextMatch().extract(" Paris\nis the capital") == "Paris"
    assert TextMatch(answer_regex=r"Answer:\s*(\w+)").extract("no answer") is None
    assert cut_at_end_of_turn("a</s>b<|im_end|>") == "a"
    with pytest.raises(ValueError, match="has 2 capture groups; expected at most 1"):
        TextMatch(answer_regex=r"(a)(b)")
    with pytest.raises(ValueError, match="is not a valid regex"):
        TextMatch(answer_regex="(unclosed")
    with pytest.raises(ValueError, match="case_sensitive must be true or false"):
        TextMatch(case_sensitive="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 generations for 1 labels"):
        match_rate(TextMatch(), ["a", "b"], ["a"])
    assert np.isnan(match_rate(TextMatch(), [], []))


def test_regex_labels_from_completions(tmp_path):
    lines = [
        json.dumps({"prompt": "q1", "completion": "Because of x.\nAnswer: Paris"}),
        json.dumps({"prompt": "q2", "completion": "Because y.\nAnswer: Rome", "label": "rome"}),
    ]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n")
    task = jsonl_task(train_path=str(path), answer_regex=r"Answer:\s*(\w+)", case_sensitive=False)
    assert [e.label for e in task.train] == ["Paris", "rome"]
    assert task.scorer.score([e.completion for e in task.train], ["Paris", "rome"]) == 1.0


def test_arithmetic_scorer_is_strict():
    scorer = AnswerTag()
    assert scorer.score(["Answer: 28", "Answer:28", "28", "Answer: 27"], ["28"] * 4) == 0.5
    assert scorer.extract("1+1=2. Answer: 2 ... Answer: -3") == "-3"
