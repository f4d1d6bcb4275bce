"""User JSONL: records parsed, every error names file and line."""

import json

import pytest

from qtn.data import Example, JsonlError, jsonl_task, read_jsonl


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
