"""The bundled party-classification task: passages, speaker-disjoint splits, determinism."""

import json
from collections import Counter

import pytest

from qtn.data import bundled, jsonl_task
from qtn.data.bundled import BUNDLED_FILES, BundledDataError
from qtn.data.political import (
    INSTRUCTION,
    UNNAMED,
    assign_speakers,
    main,
    political_splits,
    read_speeches,
    split_passages,
)


def _sentence(n: int, word: str = "w") -> str:
    return " ".join(f"{word}{i}" for i in range(n)) + "."


def test_split_passages_whole_sentences_within_bounds():
    text = " ".join(_sentence(15, w) for w in "abc")  # three 15-word sentences
    assert split_passages(text, min_words=20, max_words=40) == [
        _sentence(15, "a") + " " + _sentence(15, "b"),  # closed on reaching 20 words
        _sentence(15, "c"),  # the tail, kept: >= 20 // 2 words
    ]
    # a sentence that would pass max_words closes the passage before it
    text = _sentence(12, "a") + "\n" + _sentence(35, "b") + "  " + _sentence(5, "c")
    assert [len(p.split()) for p in split_passages(text, 20, 40)] == [12, 35]  # c: 5 < 10
    # one long sentence is cut at max_words; short fragments are dropped
    assert [len(p.split()) for p in split_passages(_sentence(90), 40, 80)] == [80]
    assert split_passages("Thank you. Thank you!", 40, 80) == []
    with pytest.raises(ValueError, match="min_words <= max_words"):
        split_passages("a.", 50, 40)


def test_real_passages_lengths():
    speech = read_speeches()[0]
    assert speech.party == "democrat" and speech.speaker == "BARACK OBAMA"
    lengths = [len(p.split()) for p in split_passages(speech.text)]
    assert min(lengths) >= 20 and max(lengths) <= 80
    assert sum(n >= 40 for n in lengths) >= 0.9 * len(lengths)


def test_assign_speakers_disjoint_seeded_and_proportional():
    counts = {("democrat", f"d{i}"): 1 + i % 7 for i in range(60)}
    counts |= {("republican", f"r{i}"): 1 + i % 5 for i in range(40)}
    split_of = assign_speakers(counts, seed=3)
    assert set(split_of) == {s for _, s in counts}  # one split per speaker
    assert assign_speakers(counts, seed=3) == split_of
    assert assign_speakers(counts, seed=4) != split_of
    for party in ("democrat", "republican"):
        per_split = Counter()
        for (p, s), n in counts.items():
            if p == party:
                per_split[split_of[s]] += n
        total = sum(per_split.values())
        assert per_split["train"] / total == pytest.approx(0.8, abs=0.05)
        assert per_split["val"] > 0 and per_split["test"] > 0
    with pytest.raises(ValueError, match=r"speakers in two parties .*\['x'\]"):
        assign_speakers({("democrat", "x"): 1, ("republican", "x"): 2})


def test_political_splits_are_speaker_disjoint():
    speakers_of: dict[str, set[str]] = {}
    for s in read_speeches():
        for p in split_passages(s.text):
            speakers_of.setdefault(p, set()).add(s.speaker)
    splits = political_splits(seed=0)
    seen = {}
    for name, examples in splits.items():
        passages = [e.prompt.split("\nPassage: ", 1)[1].removesuffix("\nAnswer:") for e in examples]
        seen[name] = set().union(*(speakers_of[p] for p in passages))
        assert {e.label for e in examples} == {"democrat", "republican"}
        assert all(e.completion == " " + e.label for e in examples)
        assert all(e.prompt.startswith(INSTRUCTION + "\nPassage: ") for e in examples)
    assert not (seen["train"] & seen["val"] or seen["train"] & seen["test"])
    assert not seen["val"] & seen["test"]
    assert UNNAMED in seen["train"] | seen["val"] | seen["test"]
    every = sum(len(split_passages(s.text)) for s in read_speeches())
    assert sum(len(v) for v in splits.values()) == every > 2000


def test_command_is_deterministic_and_reports_balance(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "a"), "--seed", "1", "--max-per-split", "50"]) == 0
    report = capsys.readouterr().out
    assert main(["--out", str(tmp_path / "b"), "--seed", "1", "--max-per-split", "50"]) == 0
    for name in ("train", "val", "test"):
        a = (tmp_path / "a" / f"{name}.jsonl").read_bytes()
        assert a == (tmp_path / "b" / f"{name}.jsonl").read_bytes()
        rows = [json.loads(line) for line in a.decode().splitlines()]
        assert len(rows) == 50 and set(rows[0]) == {"prompt", "completion", "label"}
    assert main(["--out", str(tmp_path / "c"), "--seed", "2", "--max-per-split", "50"]) == 0
    assert (tmp_path / "c" / "test.jsonl").read_bytes() != (
        tmp_path / "a" / "test.jsonl"
    ).read_bytes()
    task = jsonl_task(
        train_path=str(tmp_path / "a" / "train.jsonl"),
        val_path=str(tmp_path / "a" / "val.jsonl"),
        test_path=str(tmp_path / "a" / "test.jsonl"),
        metric="choice_accuracy",
    )
    assert task.choice_labels == ("democrat", "republican")
    assert task.choices == (" democrat", " republican")
    counts = task.label_counts("test")
    line = next(r for r in report.splitlines() if r.startswith("test "))
    assert f"democrat {counts.get('democrat', 0)}, republican {counts.get('republican', 0)}" in line
    assert f"majority-class accuracy {task.majority_baseline('test'):.4f}" in line


def test_checksum_is_verified(monkeypatch, tmp_path):
    assert BUNDLED_FILES["political_data.csv"][1] == 767_471
    fake = dict(BUNDLED_FILES)
    fake["political_data.csv"] = ("0" * 64, 767_471)
    monkeypatch.setattr(bundled, "BUNDLED_FILES", fake)
    with pytest.raises(BundledDataError, match="checksum mismatch.*political_data.csv"):
        read_speeches()
    assert main(["--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
