"""``qtn assets`` prints the verified GGUF, the cache folder and the bundled data files."""

from qtn.cli import main
from qtn.hf.assets import GGUF_NAME, GGUF_SHA256


def test_assets_lists_model_and_data(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["assets", "--cache-dir", str(tmp_path), "--no-convert"]) == 0
    out = capsys.readouterr().out
    assert GGUF_NAME in out and GGUF_SHA256 in out and str(tmp_path) in out
    assert "hamlet.txt" in out
