"""qtn.data: datasets as token streams — bundled offline data, generated tasks, user JSONL.

Pipeline: a task builds text :class:`Example` splits (:mod:`~qtn.data.registry`), a tokenizer
turns them into :class:`EncodedExample` s (ids + target mask, :mod:`~qtn.data.encoding`), and a
:class:`BatchIterator` yields static-shape numpy batches (:mod:`~qtn.data.batching` documents
the batch keys and the loss convention ``targets[:, t] == input_ids[:, t + 1]``).

Quick use::

    from qtn.data import build_data
    data = build_data({"task": "sentiment", "n_train": 2048, "max_len": 128}, tokenizer)
    it = data.train_iterator()          # resumable: it.state / it.restore(state)
    batch = next(it)                    # {"input_ids": (B, T) int32, "loss_mask": ..., ...}
    choices, cit = data.choice_set("val")   # log-likelihood accuracy

Tasks (``qtn.data.TASKS``): ``sentiment`` (rotten tomatoes, choice accuracy), ``hamlet``
(language modelling, perplexity), ``arithmetic`` (generated, exact match of ``Answer: <int>``),
``jsonl`` (user ``{"prompt", "completion"}`` files; exact match of the text, choice accuracy
over a label set, or perplexity). Each exact-match task owns its scorer (``task.scorer``,
:mod:`qtn.data.scoring`). ``python -m qtn.data.political`` writes a bundled JSONL classification
task (party of a 2012 convention speech passage).
"""

from qtn.data.arithmetic import AnswerTag, arithmetic_task, exact_match, parse_answer
from qtn.data.batching import (
    BATCH_KEYS,
    BatchPlan,
    balanced_rows,
    fit_buckets,
    left_padded_prompt_batches,
    padding_efficiency,
    power_of_two_buckets,
    token_counts,
)
from qtn.data.bundled import (
    BUNDLED_FILES,
    BundledDataError,
    bundled_data_dir,
    bundled_path,
    list_bundled_files,
)
from qtn.data.encoding import (
    ChoiceSet,
    EncodedExample,
    EncodeStats,
    TokenizerLike,
    encode_choices,
    encode_example,
    encode_examples,
    encode_prompts,
)
from qtn.data.example import Example, TaskData, TaskOptionsError, split_indices
from qtn.data.hamlet import hamlet_task
from qtn.data.iterator import BatchIterator, IteratorState
from qtn.data.jsonl import JsonlError, jsonl_task, read_jsonl
from qtn.data.pipeline import DataConfig, DataPipeline, build_data
from qtn.data.registry import TASKS, build_task, check_task, task_options
from qtn.data.scoring import Scorer, TextMatch
from qtn.data.sentiment import sentiment_task

__all__ = [
    "BATCH_KEYS",
    "BUNDLED_FILES",
    "TASKS",
    "AnswerTag",
    "BatchIterator",
    "BatchPlan",
    "BundledDataError",
    "ChoiceSet",
    "DataConfig",
    "DataPipeline",
    "EncodeStats",
    "EncodedExample",
    "Example",
    "IteratorState",
    "JsonlError",
    "Scorer",
    "TaskData",
    "TaskOptionsError",
    "TextMatch",
    "TokenizerLike",
    "arithmetic_task",
    "build_data",
    "build_task",
    "check_task",
    "bundled_data_dir",
    "bundled_path",
    "encode_choices",
    "encode_example",
    "encode_examples",
    "encode_prompts",
    "exact_match",
    "fit_buckets",
    "hamlet_task",
    "jsonl_task",
    "balanced_rows",
    "left_padded_prompt_batches",
    "list_bundled_files",
    "padding_efficiency",
    "parse_answer",
    "power_of_two_buckets",
    "read_jsonl",
    "sentiment_task",
    "split_indices",
    "task_options",
    "token_counts",
]
