"""``qtn generate`` on the offline default model (converted into a tmp cache)."""

import pytest

from qtn.cli import main


@pytest.mark.slow
def test_generate_continues_prompt(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("QTN_CACHE_DIR", str(tmp_path))
    rc = main(["generate", "--prompt", "The capital of France is", "--max-new-tokens", "5"])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.startswith("The capital of France is Paris")
    assert any(p.name.startswith("SmolLM2") for p in (tmp_path / "models").iterdir())


def test_missing_model_folder_is_an_error(tmp_path, monkeypatch, capsys):
    """A --model path that does not exist: exit code 2 and a message naming it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc = main(["generate", "--prompt", "x", "--model", str(tmp_path / "nope"),
               "--adapter", str(tmp_path)])
    assert rc == 2
    assert "nope" in capsys.readouterr().err
