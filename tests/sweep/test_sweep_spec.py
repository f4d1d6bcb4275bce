"""sweep.yaml parsing and validation."""

from pathlib import Path

import pytest
import yaml

from qtn.sweep.spec import load_sweep, parse_sweep


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_load_with_base_path_relative_to_the_sweep_file(tmp_path):
    exp = tmp_path / "experiments" / "bond_depth"
    exp.mkdir(parents=True)
    write(exp / "config.yaml", {"seed": 0, "adapter": {"method": "circuit_mpo"}})
    sweep = write(
        exp / "sweep.yaml",
        {
            "base": "config.yaml",
            "set": {"train.steps": 5},
            "grid": {"adapter.bond": [2, 4], "adapter.depth": [1, 2]},
            "seed_keys": ["seed"],
            "jobs": 2,
        },
    )
    spec = load_sweep(sweep)
    assert spec.name == "bond_depth"
    assert spec.out == Path("runs/sweeps/bond_depth")
    assert spec.jobs == 2 and spec.seed_keys == ("seed",) and spec.source == sweep
    points = spec.expand()
    assert len(points) == 4
    assert points[3].config == {
        "seed": 0,
        "adapter": {"method": "circuit_mpo", "bond": 4, "depth": 2},
        "train": {"steps": 5},
    }
    assert spec.with_out(tmp_path / "o").out == tmp_path / "o"


def test_inline_base_points_and_options():
    spec = parse_sweep(
        {
            "name": "cmp",
            "out": "somewhere",
            "base": {"adapter": {"method": "lora"}},
            "grid": {"seed": [0, 1, 2]},
            "points": [{"adapter.r": 4}, {"adapter.r": 8}],
            "env": {"XLA_FLAGS": "--foo", "N": 1},
            "timeout_s": 60,
            "command": ["python", "t.py", "{config}"],
            "plot_x": ["adapter.r"],
            "resources": {"num_cpus": 4, "num_gpus": 1},
        }
    )
    assert len(spec.expand()) == 6
    assert spec.resources == {"num_cpus": 4, "num_gpus": 1}
    assert spec.env == {"XLA_FLAGS": "--foo", "N": "1"}
    assert spec.timeout_s == 60.0 and spec.command == ("python", "t.py", "{config}")
    assert spec.plot_x == ("adapter.r",) and spec.out == Path("somewhere")


def test_every_problem_is_reported_together(tmp_path):
    with pytest.raises(ValueError) as err:
        parse_sweep(
            {
                "grdi": {},
                "base": "missing.yaml",
                "points": {"a": 1},
                "jobs": 0,
                "timeout_s": -1,
                "seed_keys": "seed",
                "resources": {"num_gpus": -1},
                "out": 3,
            },
            root=tmp_path,
        )
    msg = str(err.value)
    assert "unknown key 'grdi' (did you mean grid?)" in msg
    assert "base config not found" in msg
    assert "points must be a list of mappings" in msg
    assert "jobs must be an integer >= 1" in msg
    assert "timeout_s must be a positive number" in msg
    assert "seed_keys must be a list of strings" in msg
    assert "resources.num_gpus must be a number >= 0, got -1" in msg
    assert "out must be a folder path (a string), got 3" in msg


def test_expansion_errors_surface_at_load():
    with pytest.raises(ValueError, match="sets grid key"):
        parse_sweep({"grid": {"seed": [0]}, "points": [{"seed": 1}]})


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        load_sweep("/nonexistent/sweep.yaml")
