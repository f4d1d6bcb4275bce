"""Prompts with candidate continuations, for evaluation by one prompt pass per example.

Each example of a split becomes its prompt ids and a list of candidates: candidate 0 is the gold
completion + eos (the tokens the loss counts, exactly as :func:`qtn.data.encode_examples`
encodes them), candidates 1.. are the task's label choices (the tokens
:func:`qtn.data.encode_choices` scores). A scorer that reads the prompt once and every
candidate from its KV cache (:class:`qtn.models.scoring.ContinuationScorer`) then gives the
eval loss and the choice accuracy of a batch in one program.

Truncation: the prompt is the one the gold example was encoded with (so the eval loss is that of
the training encoding); choices are scored after that same prompt. The per-row path
(:func:`qtn.data.encode_choices`) truncates the prompt for each choice separately, so the two
differ only on prompts truncated by ``max_len``.

Batch keys (:func:`continuation_batches`): ``input_ids``, ``attention_mask``, ``positions``
(B, P) left-padded prompts (as :func:`qtn.data.batching.left_padded_prompt_batches`),
``cand_ids``, ``cand_mask`` (B, C, L) right-padded candidates, ``example_index`` (B,) (-1 on
filler rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qtn.data.batching import fit_buckets, left_padded_prompt_batches
from qtn.data.encoding import PromptFormat, Truncation, encode_example
from qtn.data.example import Example


@dataclass(frozen=True)
class ContinuationSet:
    """Per example: ``prompts[i]`` (P_i,) int32 and ``candidates[i]``, a list of (L,) int32
    arrays (gold completion + eos first — empty when the example was dropped by truncation —
    then each choice). ``gold_choice``: (n,) index of the gold label among the choices (-1 if
    it is not one, or the task has no choices)."""

    prompts: list[np.ndarray]
    candidates: list[list[np.ndarray]]
    gold_choice: np.ndarray
    n_choices: int

    def __len__(self) -> int:
        return len(self.prompts)


def encode_continuations(
    tokenizer: Any,
    examples: Sequence[Example],
    choices: Sequence[str] = (),
    choice_labels: Sequence[str] = (),
    *,
    max_len: int | None = None,
    prompt_format: PromptFormat = "auto",
    truncation: Truncation = "middle",
    system_prompt: str | None = None,
) -> ContinuationSet:
    """Prompt and candidates of every example (see the module docstring)."""
    prompts, candidates = [], []
    kw = dict(max_len=max_len, prompt_format=prompt_format, system_prompt=system_prompt)
    for ex in examples:
        gold = encode_example(tokenizer, ex, truncation=truncation, **kw)
        kept = gold is not None
        if gold is None:  # dropped by truncation: no loss tokens; its prompt still scores choices
            gold = encode_example(tokenizer, ex, truncation="middle", **kw)
        assert gold is not None
        cands = [gold.ids[gold.prompt_len :] if kept else np.zeros(0, np.int32)]
        for choice in choices:
            enc = encode_example(
                tokenizer, Example(ex.prompt, choice, ex.label), truncation="middle",
                add_eos=False, **kw,
            )
            assert enc is not None
            cands.append(enc.ids[enc.prompt_len :])
        prompts.append(gold.ids[: gold.prompt_len].astype(np.int32))
        candidates.append([c.astype(np.int32) for c in cands])
    labels = list(choice_labels)
    gold_choice = np.asarray(
        [labels.index(e.label) if e.label in labels else -1 for e in examples], np.int64
    )
    return ContinuationSet(prompts, candidates, gold_choice, len(labels))


def continuation_batches(
    cs: ContinuationSet, batch_size: int, n_buckets: int, pad: int, *, balance: bool = False
) -> list[dict[str, np.ndarray]]:
    """Left-padded prompt batches (prompt lengths grouped into at most ``n_buckets`` fitted
    buckets: one shape per bucket) with each row's candidates, right-padded to the longest
    candidate of the set. ``balance``: see
    :func:`qtn.data.batching.left_padded_prompt_batches`."""
    lengths = [max(len(p), 1) for p in cs.prompts]
    buckets = fit_buckets(lengths, n_buckets, max(lengths))
    batches = left_padded_prompt_batches(cs.prompts, batch_size, buckets, pad, balance=balance)
    C = len(cs.candidates[0]) if cs.candidates else 0
    L = max(1, max((len(c) for cands in cs.candidates for c in cands), default=1))
    for batch in batches:
        B = len(batch["example_index"])
        batch["cand_ids"] = np.full((B, C, L), pad, np.int32)
        batch["cand_mask"] = np.zeros((B, C, L), np.int32)
        for b, i in enumerate(batch["example_index"]):
            if i < 0:
                continue
            for c, toks in enumerate(cs.candidates[i]):
                batch["cand_ids"][b, c, : len(toks)] = toks
                batch["cand_mask"][b, c, : len(toks)] = 1
    return batches
