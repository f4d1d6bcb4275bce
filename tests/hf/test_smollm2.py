"""The offline SmolLM2-135M-Instruct default against transformers' own GGUF load (torch)."""

import jax.numpy as jnp
import numpy as np
import pytest

from qtn.hf import from_pretrained, read_gguf
from qtn.hf.assets import default_gguf_path
from qtn.models import generate, lm_loss, shift_targets

pytestmark = pytest.mark.slow
TEXT = (
    "The quick brown fox jumps over the lazy dog. Paris is the capital of France, and Berlin "
    "is the capital of Germany."
)


def test_gguf_tensors_equal_transformers_gguf_load(smollm2_torch_gguf):
    _, tensors = read_gguf(default_gguf_path())
    ref = {k: v.numpy() for k, v in smollm2_torch_gguf.state_dict().items()}
    ref.pop("lm_head.weight")  # tied
    assert set(tensors) == set(ref)
    for k, v in tensors.items():
        np.testing.assert_array_equal(v, ref[k], err_msg=k)


@pytest.fixture(scope="module")
def smollm2(smollm2_folder):
    return from_pretrained(smollm2_folder)


def test_loss_equals_torch(smollm2, smollm2_torch_gguf):
    import torch

    model, tok = smollm2
    ids = np.asarray([tok.encode(TEXT)], np.int32)
    with torch.no_grad():
        t_loss = smollm2_torch_gguf(input_ids=torch.as_tensor(ids, dtype=torch.long),
                                    labels=torch.as_tensor(ids, dtype=torch.long)).loss.item()
    targets, mask = shift_targets(jnp.asarray(ids))
    loss, _ = lm_loss(model(jnp.asarray(ids)), targets, mask)
    assert abs(float(loss) - t_loss) < 1e-4
    assert 1.0 < t_loss < 6.0  # a sensible model, not noise


def test_greedy_generation_equals_torch(smollm2, smollm2_torch_gguf):
    import torch

    model, tok = smollm2
    prompt = tok.encode("The capital of France is")
    with torch.no_grad():
        ref = smollm2_torch_gguf.generate(
            torch.as_tensor([prompt]), max_new_tokens=20, do_sample=False, min_new_tokens=20,
            pad_token_id=tok.pad_token_id,
        )[0, len(prompt):].tolist()
    ours = generate(model, [prompt], max_new_tokens=20, stop_token_ids=[])
    assert ours.tokens[0].tolist() == ref
    assert "Paris" in tok.decode(ref)


def test_chat_template_from_gguf(smollm2):
    _, tok = smollm2
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                   add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert tok.eos_token == "<|im_end|>"


def test_conversion_is_reused(smollm2_folder):
    from qtn.hf import default_model_path

    weights = smollm2_folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = default_model_path(smollm2_folder.parent.parent)  # <cache>/models/<name>
    assert again == smollm2_folder and weights.stat().st_mtime_ns == before
    assert not [p for p in smollm2_folder.parent.iterdir() if ".partial" in p.name]
    assert sorted(p.name for p in smollm2_folder.iterdir()) == [
        "chat_template.jinja", "config.json", "model.safetensors", "tokenizer.json",
        "tokenizer_config.json",
    ]


def test_benchmark_config_is_the_offline_models(smollm2_folder):
    """benchmarks/configs/smollm2-135m.json (bench_gpu / bench_step_compile build the model from
    it where the offline weights are absent) is the offline model's config.json."""
    import json
    from pathlib import Path

    copy = Path(__file__).parents[2] / "benchmarks" / "configs" / "smollm2-135m.json"
    ours = json.loads((smollm2_folder / "config.json").read_text())
    ours.pop("torch_dtype", None)
    assert json.loads(copy.read_text()) == ours
