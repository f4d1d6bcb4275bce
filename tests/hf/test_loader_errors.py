"""Loader errors name the offending key / file; GGUF helpers; offline hub ids."""

import json

import numpy as np
import pytest

from qtn.hf import CheckpointError, from_pretrained
from qtn.hf.assets import AssetError, converted_gguf_folder, verify_file
from qtn.hf.gguf_import import unpermute_qk
from qtn.hf.safetensors_io import safetensors_files
from qtn.models.config import UnsupportedArchitectureError


@pytest.fixture
def tiny_folder(ref, tmp_path):
    return ref.save_checkpoint(ref.torch_model("llama"), tmp_path / "tiny")


def _rewrite(folder, edit):
    from safetensors.numpy import load_file, save_file

    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    edit(tensors)
    save_file(tensors, str(path), {"format": "pt"})


def test_missing_tensor_named(tiny_folder):
    _rewrite(tiny_folder, lambda t: t.pop("model.layers.1.mlp.up_proj.weight"))
    match = r"missing parameters.*layers\.1\.mlp\.up_proj\.kernel"
    with pytest.raises(CheckpointError, match=match):
        from_pretrained(tiny_folder, with_tokenizer=False)


def test_unexpected_and_mis_shaped_reported_together(tiny_folder):
    def edit(t):
        key = "model.layers.0.self_attn.q_proj.weight"
        t[key] = t[key][:8]
        t["model.layers.0.extra.weight"] = np.zeros(3, np.float32)

    _rewrite(tiny_folder, edit)
    with pytest.raises(CheckpointError) as info:
        from_pretrained(tiny_folder, with_tokenizer=False)
    msg = str(info.value)
    assert "model.layers.0.self_attn.q_proj.weight -> layers.0.self_attn.q_proj.kernel" in msg
    assert "model expects (64, 64)" in msg
    assert "model.layers.0.extra.weight" in msg
    assert "missing" not in msg  # the mis-shaped key is not double-reported as missing


def test_truncated_safetensors_named(tiny_folder):
    path = tiny_folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        from_pretrained(tiny_folder, with_tokenizer=False)


def test_unknown_architecture_named(tiny_folder):
    cfg_path = tiny_folder / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model_type"] = "gpt2"
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(UnsupportedArchitectureError, match=r"config\.json.*'gpt2'"):
        from_pretrained(tiny_folder, with_tokenizer=False)


def test_sharded_checkpoint_loads(ref, tmp_path):
    tmodel = ref.torch_model("qwen2_bias")
    folder = ref.save_checkpoint(tmodel, tmp_path / "sharded", max_shard_size="40KB")
    assert len(safetensors_files(folder)) > 1
    model, _ = from_pretrained(folder, with_tokenizer=False)
    ids = np.arange(10, dtype=np.int32)[None]
    np.testing.assert_allclose(np.asarray(model(ids)), ref.torch_logits(tmodel, ids), atol=1e-4)


def test_pickle_only_folder_refused(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="pickle"):
        safetensors_files(tmp_path)


def test_wrong_checksum_names_file(tmp_path):
    f = tmp_path / "model.gguf"
    f.write_bytes(b"not the model")
    with pytest.raises(AssetError, match=r"model\.gguf.*expected sha256"):
        verify_file(f, "0" * 64)
    with pytest.raises(AssetError, match=r"model\.gguf.*expected 5 bytes"):
        verify_file(f, "0" * 64, size=5)


def test_corrupt_gguf_named(tmp_path):
    f = tmp_path / "broken.gguf"
    f.write_bytes(b"GGUF" + b"\0" * 20)
    with pytest.raises(CheckpointError, match="broken.gguf"):
        converted_gguf_folder(f, cache_dir=tmp_path / "cache")


def test_hub_id_offline_says_use_local_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE.*local folder"):
        from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_unpermute_inverts_llama_cpp_permute():
    def permute(w, n):  # llama.cpp convert_hf_to_gguf.LlamaModel.permute
        return w.reshape(n, 2, w.shape[0] // n // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    w = np.arange(24 * 5, dtype=np.float32).reshape(24, 5)
    for n in (1, 3, 6):
        np.testing.assert_array_equal(unpermute_qk(permute(w, n), n), w)
    assert not np.array_equal(permute(w, 3), w)


def test_gguf_config_of_default_model():
    from gguf import GGUFReader

    from qtn.hf.assets import default_gguf_path
    from qtn.hf.gguf_import import gguf_config

    cfg = gguf_config(GGUFReader(str(default_gguf_path(verify=False))))
    assert cfg["num_hidden_layers"] == 30 and cfg["hidden_size"] == 576
    assert cfg["num_attention_heads"] == 9 and cfg["num_key_value_heads"] == 3
    assert cfg["tie_word_embeddings"] is True and cfg["rms_norm_eps"] == 1e-5
    assert cfg["rope_theta"] == 100000.0 and cfg["vocab_size"] == 49152
