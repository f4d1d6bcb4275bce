"""``qtn cost --json``: keys and numbers of the planned hybrid layer."""

import json

from qtn.cli import main


def test_cost_json(capsys, tmp_path):
    argv = ["cost", "--shape", "512x512", "--bond", "8", "--qubits", "6", "--depth", "4"]
    argv += ["--tokens", "1024", "--cache-dir", str(tmp_path), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("log10_flops", "peak_size", "width", "trainable_params", "path_search_s"):
        assert key in out
    assert out["trainable_params"] == 512 + 4 * 6 + 512
    assert out["dense_params"] == 512 * 512
    assert out["qubits"] == 6 and out["site"] == 1 and out["strategy"] == "split"
    # at bond 8 the planner materialises W: at least the dense matmul's multiply-adds
    assert out["log10_flops"] >= 8.4


def test_cost_markdown_and_errors(capsys, tmp_path):
    base = ["cost", "--shape", "64x64", "--bond", "4", "--depth", "1", "--tokens", "8"]
    base += ["--cache-dir", str(tmp_path)]
    assert main(base) == 0
    assert "| log10 FLOPs (multiply-adds) |" in capsys.readouterr().out
    assert main([*base, "--qubits", "5"]) == 2
    assert "5 qubits" in capsys.readouterr().err
    assert main([*base, "--memory-budget", "100"]) == 2
    assert "100 bytes" in capsys.readouterr().err
    assert main([*base, "--depth", "0"]) == 2
    assert "got 0" in capsys.readouterr().err


def test_cost_measured_readout(capsys, tmp_path):
    """``--readout probs``: the 8x8x8x8 middle core becomes a 12-qubit circuit (48 angles)."""
    argv = ["cost", "--shape", "512x512", "--bond", "8", "--depth", "4", "--readout", "probs"]
    argv += ["--tokens", "64", "--cache-dir", str(tmp_path), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["qubits"] == 12 and out["readout"] == "probs"
    assert out["trainable_params"] == 512 + 4 * 12 + 512
