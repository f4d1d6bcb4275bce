"""User JSONL: records parsed, every error names file and line."""

import json

import pytest

from qtn.data import Example, JsonlError, TaskOptionsError, jsonl_task, read_jsonl


def _write(tmp_path, lines, name="data.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_reads_records_and_skips_blank_lines(tmp_path):
    p = _write(
        tmp_path,
        [
            json.dumps({"prompt": "2+2=", "completion": " 4"}),
            "",
            json.dumps({"prompt": "Hi", "completion": " there", "label": "greet"}),
        ],
    )
    assert read_jsonl(p) == [Example("2+2=", " 4"), Example("Hi", " there", "greet")]


@pytest.mark.parametrize(
    "bad, message",
    [
        ('{"prompt": "a", "completion": "b"', "invalid JSON"),
        ('["a", "b"]', "expected a JSON object, got list"),
        ('{"prompt": "a"}', r"missing key\(s\) \['completion'\]"),
        ('{"prompt": "a", "completion": 3}', "'completion' must be a string, got int"),
        (
            '{"prompt": "a", "complection": "b", "completion": "c"}',
            r"unknown key\(s\) \['complection'\]",
        ),
        ('{"prompt": "a", "completion": ""}', "'completion' is empty"),
    ],
)
def test_bad_record_names_file_and_line(tmp_path, bad, message):
    good = json.dumps({"prompt": "p", "completion": "c"})
    p = _write(tmp_path, [good, "", bad, good])
    with pytest.raises(JsonlError, match=f"^{p}:3: {message}"):
        read_jsonl(p)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(JsonlError, match="no such file"):
        read_jsonl(tmp_path / "absent.jsonl")
    with pytest.raises(JsonlError, match="no records"):
        read_jsonl(_write(tmp_path, [""]))


def test_jsonl_task_split_and_labels(tmp_path):
    lines = [json.dumps({"prompt": f"q{i}", "completion": f" a{i}"}) for i in range(50)]
    t = jsonl_task(path=str(_write(tmp_path, lines)), seed=0)
    assert t.sizes() == {"train": 40, "val": 5, "test": 5}
    assert all(e.label == e.completion.strip() for e in t.train)
    assert jsonl_task(path=str(tmp_path / "data.jsonl"), seed=0).train == t.train
    t2 = jsonl_task(train_path=str(tmp_path / "data.jsonl"), n_train=7)
    assert t2.sizes() == {"train": 7, "val": 0, "test": 0}
    with pytest.raises(ValueError, match="exactly one of"):
        jsonl_task()


def _party_file(tmp_path, labels, name="party.jsonl", completion=" {}"):
    lines = [
        json.dumps({"prompt": f"Passage {i}\nAnswer:", "completion": completion.format(lab)})
        for i, lab in enumerate(labels)
    ]
    return str(_write(tmp_path, lines, name))


def test_choice_accuracy_labels_from_data(tmp_path):
    labels = ["republican", "democrat", "democrat", "republican", "democrat"] * 4
    t = jsonl_task(path=_party_file(tmp_path, labels), metric="choice_accuracy")
    assert t.metric == "choice_accuracy" and t.scorer is None
    assert t.choice_labels == ("democrat", "republican")  # sorted: deterministic
    assert t.choices == (" democrat", " republican")  # the completions the data carries
    assert all(e.label in t.choice_labels for e in t.train + t.val + t.test)
    assert t.label_counts("train") == {"democrat": 9, "republican": 7}
    assert t.majority_baseline("train") == 9 / 16
    assert t.options["choices"] is None and t.options["metric"] == "choice_accuracy"


def test_choice_accuracy_given_choices(tmp_path):
    path = _party_file(tmp_path, ["democrat", "republican"] * 5)
    t = jsonl_task(
        train_path=path, metric="choice_accuracy", choices=["republican", "democrat", "green"]
    )
    assert t.choice_labels == ("republican", "democrat", "green")
    assert t.choices == (" republican", " democrat", " green")  # unseen: the data's lead space
    with pytest.raises(TaskOptionsError) as err:
        jsonl_task(train_path=path, metric="choice_accuracy", choices=["democrat", "green"])
    assert err.value.problems == [
        "choices ['democrat', 'green'] do not cover the label(s) ['republican'] found in the "
        "data; expected every label among the choices"
    ]


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"metric": "accuracy"},
            "jsonl metric must be one of ['exact_match', 'choice_accuracy', "
            "'perplexity'], got 'accuracy'",
        ),
        ({"choices": ["a", "b"]}, "choices apply to metric 'choice_accuracy' only"),
        ({"metric": "choice_accuracy", "choices": ["a", "a"]}, "choices must be distinct"),
        ({"metric": "choice_accuracy", "choices": "ab"}, "choices must be a list of non-empty"),
        ({"metric": "choice_accuracy", "answer_regex": "x"}, "answer_regex applies to metric"),
        ({"metric": "perplexity", "case_sensitive": False}, "case_sensitive applies to metric"),
        ({"answer_regex": "(a)(b)"}, "has 2 capture groups"),
    ],
)
def test_option_errors_name_the_values(tmp_path, options, message):
    path = _party_file(tmp_path, ["a", "b"])
    with pytest.raises(TaskOptionsError) as err:
        jsonl_task(path=path, **options)
    assert any(message in p for p in err.value.problems), err.value.problems


def test_choice_accuracy_data_problems(tmp_path):
    one = _party_file(tmp_path, ["democrat"] * 4, "one.jsonl")
    with pytest.raises(TaskOptionsError, match=r"at least 2 choices, got \['democrat'\]"):
        jsonl_task(train_path=one, metric="choice_accuracy")
    lines = [
        json.dumps({"prompt": "p", "completion": " Democrat", "label": "democrat"}),
        json.dumps({"prompt": "p", "completion": " democrat", "label": "democrat"}),
        json.dumps({"prompt": "p", "completion": " republican"}),
    ]
    mixed = str(_write(tmp_path, lines, "mixed.jsonl"))
    with pytest.raises(TaskOptionsError, match="label 'democrat' has 2 different completions"):
        jsonl_task(train_path=mixed, metric="choice_accuracy")


def test_regex_without_answer_in_unlabelled_completion(tmp_path):
    path = _party_file(tmp_path, ["x", "y"])
    with pytest.raises(TaskOptionsError, match=r"finds no answer in the completion of 2 record"):
        jsonl_task(path=path, answer_regex=r"Answer: (\w+)")
