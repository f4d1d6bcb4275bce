"""One entry point from a config dict to ready batches: task -> tokens -> iterators.

YAML example (the ``data:`` section of a run config)::

    data:
      task: sentiment        # a name in qtn.data.TASKS
      n_train: 2048          # any other key the task accepts (see qtn.data.task_options)
      n_eval: 256
      max_len: 128           # batching keys: fields of DataConfig
      batch_size: 8
      mode: pack             # several examples per row (SFT): rows of pack_len tokens
      pack_len: 512          # (default max_len); each example still <= max_len
      seed: 0                # split seed (if the task takes one) and shuffle seed
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, get_args

import numpy as np

from qtn.data.batching import fit_buckets, left_padded_prompt_batches
from qtn.data.continuations import ContinuationSet, continuation_batches, encode_continuations
from qtn.data.encoding import (
    ChoiceSet,
    EncodedExample,
    EncodeStats,
    PromptFormat,
    Truncation,
    encode_choices,
    encode_examples,
    encode_prompts,
    pad_id,
)
from qtn.data.example import SPLITS, TaskData
from qtn.data.iterator import BatchIterator, Mode
from qtn.data.registry import build_task, task_options


@dataclass(frozen=True)
class DataConfig:
    """Task choice plus tokenization/batching options.

    ``system_prompt`` (chat format): None keeps the chat template's default system message.
    ``buckets=None`` fits ``n_buckets`` lengths (multiples of 16, the last = ``max_len``) to the
    training lengths so padding is minimal; ``stream`` uses ``(max_len,)`` and ``pack`` rows of
    ``pack_len`` tokens (default ``max_len``), each holding whole examples of at most
    ``max_len`` tokens: ``pack_len`` a few times ``max_len`` lets best-fit fill rows to ~95 %
    (with ``batch_size`` lowered to keep ``batch_size * pack_len`` tokens per batch).
    ``mode=None`` picks ``stream`` for perplexity tasks (hamlet) and ``bucket`` otherwise.
    """

    task: str = "sentiment"
    task_options: dict[str, Any] = field(default_factory=dict)
    max_len: int = 128
    batch_size: int = 8
    eval_batch_size: int | None = None
    buckets: tuple[int, ...] | None = None
    n_buckets: int = 3
    mode: Mode | None = None
    pack_len: int | None = None
    prompt_format: PromptFormat = "auto"
    truncation: Truncation = "middle"
    system_prompt: str | None = None
    seed: int = 0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataConfig:
        """Split a flat ``data:`` mapping into DataConfig fields and task options."""
        own = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in own}
        task = kw.get("task", cls.task)
        accepted = task_options(task)
        opts = dict(kw.pop("task_options", {}) or {})
        unknown = []
        for k, v in d.items():
            if k in own:
                continue
            if k not in accepted:
                unknown.append(k)
            opts[k] = v
        if unknown:
            raise TypeError(
                f"unknown data option(s) {sorted(unknown)}; DataConfig fields: {sorted(own)}; "
                f"task {task!r} options: {sorted(accepted)}"
            )
        if "seed" in accepted and "seed" not in opts:
            opts["seed"] = kw.get("seed", cls.seed)
        if kw.get("buckets") is not None:
            kw["buckets"] = tuple(int(b) for b in kw["buckets"])
        return cls(task_options=opts, **kw)

    def check(self) -> list[str]:
        """Errors of the fields with a fixed set of values (``mode``, ``prompt_format``,
        ``truncation``), each naming the value and the accepted ones."""
        errors = []
        for name, allowed in (("mode", (None, *get_args(Mode))),
                              ("prompt_format", get_args(PromptFormat)),
                              ("truncation", get_args(Truncation))):
            value = getattr(self, name)
            if value not in allowed:
                errors.append(f"data.{name} must be one of {list(allowed)}, got {value!r}")
        return errors


@dataclass
class DataPipeline:
    """A built task with its encoded splits; hands out iterators and eval material.

    Attributes:
        task: the TaskData. encoded: split -> encoded examples. stats: split -> EncodeStats.
        buckets: the sequence lengths batches use. pad: pad id. mode: the resolved batching mode.
    """

    config: DataConfig
    tokenizer: Any
    task: TaskData
    encoded: dict[str, list[EncodedExample]]
    stats: dict[str, EncodeStats]
    buckets: tuple[int, ...]
    pad: int
    mode: Mode

    def train_iterator(self) -> BatchIterator:
        """Shuffled, endless, resumable training batches (see BatchIterator.state)."""
        c = self.config
        return BatchIterator(
            self.encoded["train"],
            batch_size=c.batch_size,
            buckets=self.buckets,
            pad_id=self.pad,
            mode=self.mode,
            shuffle=True,
            seed=c.seed,
        )

    def eval_iterator(self, split: str = "val") -> BatchIterator:
        """One pass over ``split`` in fixed order (loss / perplexity evaluation)."""
        c = self.config
        return BatchIterator(
            self.encoded[split],
            batch_size=c.eval_batch_size or c.batch_size,
            buckets=self.buckets,
            pad_id=self.pad,
            mode=self.mode,
            shuffle=False,
            epochs=1,
        )

    def choice_set(self, split: str = "val") -> tuple[ChoiceSet, BatchIterator]:
        """Candidate-completion pairs of ``split`` and a fixed-order bucket iterator over them.

        Score each batch row as ``sum_t logp[b, t, targets[b, t]] * loss_mask[b, t]``, scatter
        the row scores to ``scores[example_index[b]]`` for rows with ``example_index >= 0``, then
        ``choices.accuracy(scores)``.
        """
        c = self.config
        if not self.task.choices:
            raise ValueError(f"task {self.task.name!r} has no candidate completions")
        cs = encode_choices(
            self.tokenizer,
            self.task.split(split),
            self.task.choices,
            self.task.choice_labels,
            max_len=c.max_len,
            prompt_format=c.prompt_format,
            system_prompt=c.system_prompt,
        )
        it = BatchIterator(
            cs.encoded,
            batch_size=c.eval_batch_size or c.batch_size,
            buckets=self.buckets,
            pad_id=self.pad,
            mode="bucket",
            shuffle=False,
            epochs=1,
        )
        return cs, it

    def continuation_set(
        self,
        split: str = "val",
        batch_size: int | None = None,
        *,
        with_choices: bool = True,
        balance: bool = False,
    ) -> tuple[ContinuationSet, list[dict[str, np.ndarray]]]:
        """Prompts of ``split`` with their candidates (gold completion + eos, then the task's
        choices unless ``with_choices`` is False) and left-padded batches of them, for scoring
        every candidate from one prompt pass (:mod:`qtn.data.continuations`). ``batch_size``
        rows (default: the eval batch size; ``balance``: at most that many, balanced per
        prompt bucket)."""
        c = self.config
        choices = self.task.choices if with_choices else ()
        cs = encode_continuations(
            self.tokenizer,
            self.task.split(split),
            choices,
            self.task.choice_labels if with_choices else (),
            max_len=c.max_len,
            prompt_format=c.prompt_format,
            truncation=c.truncation,
            system_prompt=c.system_prompt,
        )
        rows = batch_size or c.eval_batch_size or c.batch_size
        return cs, continuation_batches(cs, rows, c.n_buckets, self.pad, balance=balance)

    def prompt_batches(
        self,
        split: str = "val",
        max_prompt_len: int | None = None,
        batch_size: int | None = None,
        *,
        balance: bool = False,
    ) -> tuple[list[dict[str, np.ndarray]], list[str | None]]:
        """Left-padded prompt batches of ``split`` for greedy generation, and the gold labels
        (compare with the task's scorer: ``self.task.scorer.score(texts, labels)``). Prompts
        are grouped into at most ``n_buckets`` lengths fitted to them (one batch shape, so one
        compiled generation program, per bucket); ``batch_size`` rows per batch (default: the
        eval batch size; ``balance``: at most that many, balanced per prompt bucket)."""
        c = self.config
        examples = self.task.split(split)
        prompts = encode_prompts(
            self.tokenizer,
            examples,
            max_len=max_prompt_len or c.max_len,
            prompt_format=c.prompt_format,
            system_prompt=c.system_prompt,
        )
        rows = batch_size or c.eval_batch_size or c.batch_size
        lengths = [len(p) for p in prompts]
        buckets = fit_buckets(lengths, c.n_buckets, max(lengths))  # prompt lengths, not rows
        batches = left_padded_prompt_batches(prompts, rows, buckets, self.pad, balance=balance)
        return batches, [e.label for e in examples]


def build_data(config: DataConfig | Mapping[str, Any], tokenizer: Any) -> DataPipeline:
    """Build the task, encode its splits with ``tokenizer`` and choose the buckets."""
    c = config if isinstance(config, DataConfig) else DataConfig.from_dict(config)
    task = build_task(c.task, **c.task_options)
    mode: Mode = c.mode or ("stream" if task.metric == "perplexity" else "bucket")
    stream = mode == "stream"
    encoded: dict[str, list[EncodedExample]] = {}
    stats: dict[str, EncodeStats] = {}
    for split in SPLITS:
        encoded[split], stats[split] = encode_examples(
            tokenizer,
            task.split(split),
            max_len=None if stream else c.max_len,
            prompt_format=c.prompt_format,
            truncation=c.truncation,
            system_prompt=c.system_prompt,
        )
    if mode == "pack":
        buckets: Sequence[int] = (c.pack_len or c.max_len,)
    elif mode != "bucket":
        buckets = (c.max_len,)
    elif c.buckets is not None:
        buckets = c.buckets
    else:
        buckets = fit_buckets([len(e) for e in encoded["train"]], c.n_buckets, c.max_len)
    return DataPipeline(c, tokenizer, task, encoded, stats, tuple(buckets), pad_id(tokenizer), mode)
