"""``qtn decompose --json``: keys, numbers, and errors."""

import json

from qtn.cli import main


def _run(capsys, *argv):
    code = main(["decompose", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_decompose_json(capsys):
    code, out = _run(capsys, "--shape", "256x512", "--bond", "8", "--sites", "3", "--seed", "0")
    assert code == 0
    assert out["in_dims"] == [8, 8, 4] and out["out_dims"] == [8, 8, 8]
    assert out["bond_dims"] == [8, 8]
    assert out["params"] == 1 * 8 * 8 * 8 + 8 * 8 * 8 * 8 + 8 * 4 * 8 * 1
    assert out["dense_params"] == 256 * 512
    assert 0.9 < out["rel_error"] < 1.0  # a Gaussian matrix is far from bond 8


def test_decompose_full_bond_and_smooth(capsys):
    _, full = _run(capsys, "--shape", "36x60", "--sites", "2")
    assert full["in_dims"] == [6, 6] and full["out_dims"] == [6, 10]
    assert full["rel_error"] < 1e-12
    _, smooth = _run(capsys, "--shape", "256x512", "--bond", "8", "--smooth")
    assert smooth["rel_error"] < 1e-6


def test_decompose_text_and_errors(capsys):
    assert main(["decompose", "--shape", "64x64", "--bond", "4"]) == 0
    assert "rel_error" in capsys.readouterr().out
    assert main(["decompose", "--shape", "64by64"]) == 2
    assert "64by64" in capsys.readouterr().err
    assert main(["decompose", "--shape", "64x64", "--bond", "0"]) == 2
    assert "got 0" in capsys.readouterr().err
    assert main(["decompose", "--shape", "64x64", "--in-dims", "4,4,2"]) == 2
    assert "(4, 4, 2)" in capsys.readouterr().err
