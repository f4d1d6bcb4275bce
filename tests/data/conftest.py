"""Fixtures for qtn.data tests: a small real byte-level BPE tokenizer trained in-process."""

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
CORPUS = [
    "Classify the sentiment of this movie review as positive or negative. Reply with one word.",
    "Review: A three-hour cinema master class. Answer: positive",
    "Review: A mess. Answer: negative",
    "Compute 12+7*3-5. 7*3=21. 12+21=33. 33-5=28. Answer: 28",
    "Who's there? Nay, answer me: stand, and unfold yourself. Long live the king!",
    "0123456789 +-*=. the a of and to in is it that this film movie story",
]


def make_tokenizer(chat: bool) -> PreTrainedTokenizerFast:
    """Byte-level BPE (vocab 400) with ChatML specials; eos = <|im_end|>, pad = <|pad|>."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS * 5, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        bos_token="<|endoftext|>",
    )
    if chat:
        fast.chat_template = CHATML
    return fast


@pytest.fixture(scope="session")
def tokenizer() -> PreTrainedTokenizerFast:
    return make_tokenizer(chat=False)


@pytest.fixture(scope="session")
def chat_tokenizer() -> PreTrainedTokenizerFast:
    return make_tokenizer(chat=True)
