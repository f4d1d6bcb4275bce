"""LoRA exported in the PEFT layout loads with peft + torch and gives qtn's logits."""

import json

import numpy as np
import pytest

from qtn.adapters import inject
from qtn.adapters.peft import export_peft

peft = pytest.importorskip("peft")
torch = pytest.importorskip("torch")


def _tiny_hf_llama(folder):
    import transformers

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
        attn_implementation="eager",
    )
    model = transformers.LlamaForCausalLM(cfg).eval()
    model.save_pretrained(str(folder), safe_serialization=True)
    return model


def test_peft_export_matches_qtn_logits(tmp_path, randomize):
    from qtn.hf import from_pretrained

    torch.set_num_threads(2)
    hf = _tiny_hf_llama(tmp_path / "base")
    model, _ = from_pretrained(tmp_path / "base", with_tokenizer=False)
    inject(
        model,
        "lora",
        ["q_proj", "v_proj", "down_proj"],
        r=4,
        alpha=8.0,
        rank_pattern={"layers.1.self_attn.v_proj": 2},
        alpha_pattern={"down_proj": 3.0},
    )
    randomize(model, seed=5)
    ids = np.random.default_rng(0).integers(0, 64, (2, 12)).astype(np.int32)
    mask = np.ones_like(ids)
    ours = np.asarray(model(ids, mask))

    export_peft(model, tmp_path / "peft", base_model_name_or_path=str(tmp_path / "base"))
    config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["rank_pattern"] == {"model.layers.1.self_attn.v_proj": 2}
    peft_model = peft.PeftModel.from_pretrained(hf, str(tmp_path / "peft")).eval()
    with torch.no_grad():
        theirs = peft_model(
            input_ids=torch.as_tensor(ids, dtype=torch.long), attention_mask=torch.as_tensor(mask)
        ).logits.numpy()
    with torch.no_grad(), peft_model.disable_adapter():
        base = peft_model(input_ids=torch.as_tensor(ids, dtype=torch.long)).logits
    assert np.abs(theirs - base.numpy()).max() > 1e-3  # the adapter really changes the output
    np.testing.assert_allclose(theirs, ours, atol=1e-4, rtol=1e-4)
