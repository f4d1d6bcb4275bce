"""Tasks: rotten-tomatoes counts, deterministic disjoint splits, arithmetic correctness."""

import ast
import collections
import operator

import pytest

from qtn.data import (
    TASKS,
    build_task,
    exact_match,
    parse_answer,
    split_indices,
    task_options,
)
from qtn.data.arithmetic import arithmetic_task
from qtn.data.hamlet import hamlet_blocks, hamlet_task
from qtn.data.sentiment import read_rotten_tomatoes, sentiment_examples, sentiment_task


def test_rotten_tomatoes_raw_counts():
    rows = read_rotten_tomatoes()
    assert len(rows) == 13_905
    assert collections.Counter(c for c, _ in rows) == {"fresh": 7403, "rotten": 5405, "plot": 1097}


def test_sentiment_label_counts_after_dedup():
    ex = sentiment_examples()
    assert len(ex) == 12_752  # 56 duplicate snippets kept once, plot rows dropped
    assert collections.Counter(e.label for e in ex) == {"positive": 7368, "negative": 5384}
    assert all(e.completion == " " + e.label for e in ex)
    assert all(e.prompt.endswith("\nAnswer:") for e in ex)


def test_sentiment_splits_deterministic_and_disjoint():
    a, b, c = (sentiment_task(seed=s) for s in (0, 0, 1))
    assert a.sizes() == {"train": 10_201, "val": 1275, "test": 1276}
    assert a.train == b.train and a.val == b.val and a.test == b.test
    assert a.train != c.train
    prompts = [{e.prompt for e in a.split(s)} for s in ("train", "val", "test")]
    assert sum(map(len, prompts)) == 12_752
    assert not (prompts[0] & prompts[1] or prompts[0] & prompts[2] or prompts[1] & prompts[2])
    assert collections.Counter(e.label for e in a.val) == {"positive": 734, "negative": 541}
    assert a.choices == (" positive", " negative") and a.metric == "choice_accuracy"


def test_caps_take_prefixes():
    full, small = sentiment_task(seed=3), sentiment_task(seed=3, n_train=100, n_eval=20)
    assert small.sizes() == {"train": 100, "val": 20, "test": 20}
    assert small.train == full.train[:100] and small.test == full.test[:20]


@pytest.mark.parametrize("n", [0, 1, 10, 101])
def test_split_indices_partition(n):
    tr, va, te = split_indices(n, (0.8, 0.1, 0.1), seed=7)
    assert sorted([*tr, *va, *te]) == list(range(n))
    assert len(tr) == int(0.8 * n)


def test_hamlet_blocks_split():
    blocks = hamlet_blocks(40)
    assert len(blocks) == 135
    assert blocks[0].startswith("The Tragedy of Hamlet, Prince of Denmark\n")
    t = hamlet_task(seed=0)
    assert t.sizes() == {"train": 108, "val": 13, "test": 14}
    assert all(e.prompt == "" for e in t.train) and t.metric == "perplexity"
    texts = [e.completion for s in ("train", "val", "test") for e in t.split(s)]
    assert sorted(texts) == sorted(blocks)


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def _evaluate(expr: str) -> int:
    """Independent evaluator: Python's own parser and precedence, integer ops only."""

    def ev(node):
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        raise ValueError(ast.dump(node))

    return ev(ast.parse(expr, mode="eval").body)


def test_arithmetic_answers_are_correct():
    t = arithmetic_task(seed=5, n_train=500, n_eval=50, max_terms=5)
    for e in t.train + t.val + t.test:
        expr = e.prompt.removeprefix("Compute ").removesuffix(".\n")
        assert int(e.label) == _evaluate(expr)
        assert parse_answer(e.completion) == e.label
        for step in e.completion.split(". ")[:-1]:  # every worked step is itself correct
            lhs, rhs = step.rsplit("=", 1)
            assert _evaluate(lhs) == int(rhs)
    n_terms = collections.Counter(
        e.prompt.count("+") + e.prompt.count("*") + e.prompt[8:].count("-") for e in t.train
    )
    assert set(n_terms) == {1, 2, 3, 4}


def test_arithmetic_deterministic_and_disjoint():
    a, b = (
        arithmetic_task(seed=1, n_train=300, n_eval=40),
        arithmetic_task(seed=1, n_train=300, n_eval=40),
    )
    assert a.train == b.train and a.test == b.test
    assert arithmetic_task(seed=2, n_train=300, n_eval=40).train != a.train
    p = [{e.prompt for e in a.split(s)} for s in ("train", "val", "test")]
    assert (len(p[0]), len(p[1]), len(p[2])) == (300, 40, 40)
    assert not (p[0] & p[1] or p[0] & p[2] or p[1] & p[2])


def test_exact_match_parser():
    assert parse_answer("7*3=21. Answer: 28") == "28"
    assert parse_answer("Answer: 1 ... Answer: -4 trailing") == "-4"
    assert parse_answer("no answer here") is None
    assert exact_match(["Answer: 28", "Answer:28", "28", "Answer: 27"], ["28"] * 4) == 0.5


def test_registry_explicit_and_checked():
    assert sorted(TASKS) == ["arithmetic", "hamlet", "jsonl", "sentiment"]
    assert task_options("arithmetic")["n_train"] == 2000
    assert build_task("arithmetic", n_train=3, n_eval=1).sizes() == {
        "train": 3,
        "val": 1,
        "test": 1,
    }
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['n_trian'\]"):
        build_task("sentiment", n_trian=5)
    with pytest.raises(KeyError, match="unknown task 'sst2'"):
        build_task("sst2")
