"""``qtn generate`` on the offline default model (converted into a tmp cache)."""

import pytest

from qtn.cli import main


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """A QTN_CACHE_DIR holding the offline default model, converted once for the module."""
    from qtn.hf import default_model_path

    cache = tmp_path_factory.mktemp("qtn_cache")
    default_model_path(cache)
    return cache


@pytest.mark.slow
def test_generate_continues_prompt(model_cache, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("QTN_CACHE_DIR", str(model_cache))
    rc = main(["generate", "--prompt", "The capital of France is", "--max-new-tokens", "5"])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.startswith("The capital of France is Paris")
    assert any(p.name.startswith("SmolLM2") for p in (model_cache / "models").iterdir())


def test_missing_model_folder_is_an_error(tmp_path, monkeypatch, capsys):
    """A --model path that does not exist: exit code 2 and a message naming it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc = main(["generate", "--prompt", "x", "--model", str(tmp_path / "nope"),
               "--adapter", str(tmp_path)])
    assert rc == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_adapter_flag_loads_saved_adapter(tmp_path, model_cache, capsys, monkeypatch):
    """A freshly injected LoRA (zero update) saved and re-applied leaves the greedy text as is."""
    from qtn.adapters import AdapterSpec, inject_spec, save_adapter
    from qtn.hf import default_model_path, from_pretrained

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = default_model_path(model_cache)
    model, _ = from_pretrained(folder, with_tokenizer=False)
    spec = AdapterSpec.from_dict({"method": "lora", "target_modules": ["q_proj", "v_proj"]})
    inject_spec(model, spec)
    save_adapter(model, tmp_path / "adapter", spec)
    del model
    args = ["generate", "--prompt", "The capital of France is", "--max-new-tokens", "5",
            "--model", str(folder), "--adapter", str(tmp_path / "adapter")]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("The capital of France is Paris")
