"""Text -> token ids with a per-token target mask (completion tokens + eos), truncation policy.

Per-example convention (before batching): ``ids: (L,) int32`` is ``prompt_ids + completion_ids
+ [eos]`` and ``target: (L,) int32`` is 1 exactly on the completion tokens and the eos — the
tokens the model is trained to *produce*. :mod:`qtn.data.batching` turns ``target`` into a
``loss_mask`` aligned with the *predicting* position (``loss_mask[t] = target[t + 1]``).

Prompt and completion are tokenized separately and concatenated, so the boundary between them
is exact (no merge across it). Prompt formats:

- ``plain``: ``prompt`` then ``completion`` as given (BOS prepended if the tokenizer adds one).
- ``chat``: ``prompt`` becomes a user message rendered with ``tokenizer.apply_chat_template(...,
  add_generation_prompt=True)``; the completion (leading whitespace stripped) is the assistant
  reply and eos closes it. Examples with an empty prompt (language modelling) stay ``plain``.
- ``auto``: ``chat`` when the tokenizer has a chat template, else ``plain``.

Truncation, when ``len(ids) > max_len``:

- ``middle`` (default): drop tokens from the middle of the prompt, keeping its head (the
  instruction) and its tail (the end of the input and the answer cue); the completion and eos
  are kept whole. If the completion+eos alone would leave fewer than ``min(len(prompt),
  max_len // 2)`` prompt tokens, the prompt keeps that many head tokens and the completion is cut
  at the right (its eos is lost).
- ``drop``: skip the example (counted in :class:`EncodeStats`).
- ``error``: raise ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from qtn.data.example import Example

PromptFormat = Literal["auto", "plain", "chat"]
Truncation = Literal["middle", "drop", "error"]


class TokenizerLike(Protocol):
    """What qtn.data needs from a tokenizer (HF ``PreTrainedTokenizerFast`` satisfies it):
    ``encode(text, add_special_tokens=...)`` or ``__call__(text)["input_ids"]``,
    ``eos_token_id``, ``pad_token_id`` (may be None: eos is used), optionally ``bos_token_id``,
    ``chat_template`` and ``apply_chat_template``."""

    eos_token_id: int | None
    pad_token_id: int | None


@dataclass(frozen=True)
class EncodedExample:
    """Token ids of one example. ``ids``, ``target``: (L,) int32; ``prompt_len`` = number of
    leading prompt tokens (after truncation); ``label`` carried over from the Example."""

    ids: np.ndarray
    target: np.ndarray
    prompt_len: int
    label: str | None = None
    truncated: bool = False

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class EncodeStats:
    """Counts from encoding a list of examples."""

    n_in: int
    n_kept: int
    n_truncated: int
    n_dropped: int
    max_len_seen: int


def _encode_text(tokenizer: Any, text: str) -> list[int]:
    if not text:
        return []
    if hasattr(tokenizer, "encode"):
        return list(tokenizer.encode(text, add_special_tokens=False))
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def eos_id(tokenizer: Any) -> int:
    """The tokenizer's eos id (required: it terminates every completion)."""
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        raise ValueError("tokenizer has no eos_token_id; completions must end with eos")
    return int(eos)


def pad_id(tokenizer: Any) -> int:
    """The pad id: ``pad_token_id``, else ``eos_token_id`` (pads are never attended/trained)."""
    pad = getattr(tokenizer, "pad_token_id", None)
    return int(pad) if pad is not None else eos_id(tokenizer)


def resolve_format(tokenizer: Any, prompt_format: PromptFormat) -> Literal["plain", "chat"]:
    """``auto`` -> ``chat`` if the tokenizer has a chat template, else ``plain``."""
    has_chat = bool(getattr(tokenizer, "chat_template", None)) and hasattr(
        tokenizer, "apply_chat_template"
    )
    if prompt_format == "auto":
        return "chat" if has_chat else "plain"
    if prompt_format == "chat" and not has_chat:
        raise ValueError("prompt_format='chat' but the tokenizer has no chat template")
    if prompt_format not in ("plain", "chat"):
        raise ValueError(f"prompt_format must be auto/plain/chat, got {prompt_format!r}")
    return prompt_format


def _bos_prefix(tokenizer: Any) -> list[int]:
    """[bos] if the tokenizer itself prepends bos when adding special tokens, else []."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None or not hasattr(tokenizer, "encode"):
        return []
    with_special = list(tokenizer.encode("a", add_special_tokens=True))
    return [int(bos)] if with_special and with_special[0] == bos else []


def prompt_ids(
    tokenizer: Any, prompt: str, fmt: Literal["plain", "chat"], system_prompt: str | None = None
) -> list[int]:
    """Token ids of the prompt part (chat: the rendered user turn + generation prompt).

    ``system_prompt`` (chat only) adds a system message; None leaves the template's default
    (SmolLM2's template then inserts its own ~20-token system message).
    """
    if fmt == "chat" and prompt:
        messages = [{"role": "user", "content": prompt.strip()}]
        if system_prompt is not None:
            messages.insert(0, {"role": "system", "content": system_prompt})
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return _encode_text(tokenizer, text)
    return _bos_prefix(tokenizer) + _encode_text(tokenizer, prompt)


def completion_ids(tokenizer: Any, completion: str, fmt: Literal["plain", "chat"]) -> list[int]:
    """Token ids of the completion (no eos); in chat format leading whitespace is stripped."""
    return _encode_text(tokenizer, completion.lstrip() if fmt == "chat" else completion)


def _truncate_middle(p: list[int], keep: int) -> list[int]:
    head = keep // 2
    return p[:head] + p[len(p) - (keep - head) :] if keep > 0 else []


def fit_to_length(
    p: list[int], c: list[int], max_len: int | None, truncation: Truncation
) -> tuple[list[int], list[int], bool] | None:
    """Apply the truncation policy to prompt ids ``p`` and target ids ``c`` (completion+eos).

    Returns ``(p, c, truncated)`` or None when the example is dropped.
    """
    if max_len is None or len(p) + len(c) <= max_len:
        return p, c, False
    if truncation == "drop":
        return None
    if truncation == "error":
        raise ValueError(f"example has {len(p) + len(c)} tokens > max_len={max_len}")
    if truncation != "middle":
        raise ValueError(f"truncation must be middle/drop/error, got {truncation!r}")
    min_prompt = min(len(p), max_len // 2)
    if len(c) <= max_len - min_prompt:
        return _truncate_middle(p, max_len - len(c)), c, True
    return p[:min_prompt], c[: max_len - min_prompt], True


def encode_example(
    tokenizer: Any,
    example: Example,
    *,
    max_len: int | None = None,
    prompt_format: PromptFormat = "auto",
    truncation: Truncation = "middle",
    add_eos: bool = True,
    system_prompt: str | None = None,
) -> EncodedExample | None:
    """One example -> :class:`EncodedExample` (None if dropped by ``truncation='drop'``)."""
    fmt = resolve_format(tokenizer, prompt_format)
    fmt = "plain" if not example.prompt else fmt
    p = prompt_ids(tokenizer, example.prompt, fmt, system_prompt)
    c = completion_ids(tokenizer, example.completion, fmt)
    c = c + [eos_id(tokenizer)] if add_eos else c
    fitted = fit_to_length(p, c, max_len, truncation)
    if fitted is None:
        return None
    p, c, truncated = fitted
    ids = np.asarray(p + c, dtype=np.int32)
    target = np.concatenate([np.zeros(len(p), np.int32), np.ones(len(c), np.int32)])
    return EncodedExample(ids, target, len(p), example.label, truncated)


def encode_examples(
    tokenizer: Any,
    examples: Sequence[Example],
    *,
    max_len: int | None = None,
    prompt_format: PromptFormat = "auto",
    truncation: Truncation = "middle",
    system_prompt: str | None = None,
) -> tuple[list[EncodedExample], EncodeStats]:
    """Encode a list; dropped examples are left out (see ``EncodeStats.n_dropped``)."""
    out: list[EncodedExample] = []
    for ex in examples:
        enc = encode_example(
            tokenizer,
            ex,
            max_len=max_len,
            prompt_format=prompt_format,
            truncation=truncation,
            system_prompt=system_prompt,
        )
        if enc is not None:
            out.append(enc)
    stats = EncodeStats(
        n_in=len(examples),
        n_kept=len(out),
        n_truncated=sum(e.truncated for e in out),
        n_dropped=len(examples) - len(out),
        max_len_seen=max((len(e) for e in out), default=0),
    )
    return out, stats


@dataclass(frozen=True)
class ChoiceSet:
    """Encoded (example, choice) pairs for log-likelihood classification.

    ``encoded[k]`` is example ``example_of[k]`` followed by candidate ``choice_of[k]``; its
    ``target`` covers only the candidate's tokens (no eos). ``gold``: (n_examples,) index of the
    correct choice (-1 if the label is not a choice).
    """

    encoded: list[EncodedExample]
    example_of: np.ndarray
    choice_of: np.ndarray
    gold: np.ndarray
    n_choices: int

    def predictions(self, scores: np.ndarray) -> np.ndarray:
        """``scores``: (len(encoded),) summed candidate log-probs -> (n_examples,) argmax."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(self.encoded),):
            raise ValueError(f"scores shape {scores.shape} != ({len(self.encoded)},)")
        table = np.full((len(self.gold), self.n_choices), -np.inf)
        table[self.example_of, self.choice_of] = scores
        return np.argmax(table, axis=1)

    def accuracy(self, scores: np.ndarray) -> float:
        """Fraction of examples whose highest-scoring candidate is the gold one."""
        return float(np.mean(self.predictions(scores) == self.gold))


def encode_choices(
    tokenizer: Any,
    examples: Sequence[Example],
    choices: Sequence[str],
    choice_labels: Sequence[str],
    *,
    max_len: int | None = None,
    prompt_format: PromptFormat = "auto",
    system_prompt: str | None = None,
) -> ChoiceSet:
    """Every example paired with every candidate completion (e.g. " positive"/" negative")."""
    encoded: list[EncodedExample] = []
    example_of, choice_of = [], []
    for i, ex in enumerate(examples):
        for j, choice in enumerate(choices):
            enc = encode_example(
                tokenizer,
                Example(ex.prompt, choice, ex.label),
                max_len=max_len,
                prompt_format=prompt_format,
                truncation="middle",
                add_eos=False,
                system_prompt=system_prompt,
            )
            assert enc is not None  # 'middle' never drops
            encoded.append(enc)
            example_of.append(i)
            choice_of.append(j)
    labels = list(choice_labels)
    gold = np.asarray([labels.index(e.label) if e.label in labels else -1 for e in examples])
    return ChoiceSet(
        encoded,
        np.asarray(example_of, np.int64),
        np.asarray(choice_of, np.int64),
        gold.astype(np.int64),
        len(labels),
    )


def encode_prompts(
    tokenizer: Any,
    examples: Sequence[Example],
    *,
    max_len: int | None = None,
    prompt_format: PromptFormat = "auto",
    system_prompt: str | None = None,
) -> list[np.ndarray]:
    """Prompt-only ids (for generation), each (L,) int32, middle-truncated to ``max_len``."""
    fmt = resolve_format(tokenizer, prompt_format)
    out = []
    for ex in examples:
        p = prompt_ids(tokenizer, ex.prompt, fmt if ex.prompt else "plain", system_prompt)
        if max_len is not None and len(p) > max_len:
            p = _truncate_middle(p, max_len)
        out.append(np.asarray(p, dtype=np.int32))
    return out
