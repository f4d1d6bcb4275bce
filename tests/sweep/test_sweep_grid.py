"""Grid expansion, explicit points, deterministic names, config hashes."""

import doctest
import subprocess
import sys

import pytest

import qtn.sweep.aggregate
import qtn.sweep.grid
import qtn.sweep.plots
from qtn.sweep.grid import config_hash, expand_grid, expand_points, point_name

BASE = {"seed": 0, "adapter": {"method": "qtha", "target_modules": ["q_proj"]}, "train": {}}


def test_grid_is_the_cartesian_product_in_key_order():
    combos = expand_grid({"adapter.bond": [2, 4, 8], "adapter.depth": [1, 2], "seed": [0, 1]})
    assert len(combos) == 12
    assert combos[0] == {"adapter.bond": 2, "adapter.depth": 1, "seed": 0}
    assert combos[1] == {"adapter.bond": 2, "adapter.depth": 1, "seed": 1}
    assert combos[-1] == {"adapter.bond": 8, "adapter.depth": 2, "seed": 1}
    assert expand_grid({}) == [{}]


@pytest.mark.parametrize("bad", [[], "abc", 3])
def test_grid_values_must_be_a_list(bad):
    with pytest.raises(ValueError, match="grid.seed must be a non-empty list"):
        expand_grid({"seed": bad})


def test_points_cross_the_grid_and_merge_into_the_base():
    points = expand_points(
        BASE,
        grid={"seed": [0, 1, 2]},
        points=[
            {"label": "none", "adapter.method": "none"},
            {"adapter.method": "lora", "adapter.r": 8},
            {"adapter.bond": 4, "adapter.depth": 2},
        ],
        common={"train.steps": 7},
    )
    assert len(points) == 9
    assert [p.index for p in points] == list(range(9))
    assert points[1].overrides == {"seed": 0, "adapter.method": "lora", "adapter.r": 8}
    assert points[1].config == {
        "seed": 0,
        "adapter": {"method": "lora", "target_modules": ["q_proj"], "r": 8},
        "train": {"steps": 7},
    }
    assert points[5].overrides == {"seed": 1, "adapter.bond": 4, "adapter.depth": 2}
    assert points[5].config["adapter"] == {
        "method": "qtha",
        "target_modules": ["q_proj"],
        "bond": 4,
        "depth": 2,
    }
    assert [p.variant for p in points[:3]] == ["none", "method=lora r=8", "bond=4 depth=2"]
    assert points[0].label == "none" and "label" not in points[0].overrides
    assert BASE["adapter"] == {"method": "qtha", "target_modules": ["q_proj"]}  # not mutated


def test_no_grid_no_points_is_one_base_point():
    (p,) = expand_points(BASE)
    assert p.overrides == {} and p.config == BASE and p.variant == "base"
    assert p.name.startswith("base-")


def test_a_key_in_both_grid_and_point_is_an_error():
    with pytest.raises(ValueError, match=r"points\[0\] sets grid key\(s\) \['seed'\]"):
        expand_points(BASE, {"seed": [0]}, [{"seed": 1}])


def test_identical_points_are_an_error():
    with pytest.raises(ValueError, match="points 0 and 1 have the same overrides"):
        expand_points(BASE, None, [{"adapter.r": 4, "label": "a"}, {"adapter.r": 4, "label": "b"}])


def test_null_section_becomes_a_mapping():
    (p,) = expand_points({"adapter": None}, None, [{"adapter.method": "lora"}])
    assert p.config == {"adapter": {"method": "lora"}}


def test_names_are_deterministic_readable_and_distinct():
    name = point_name({"adapter.method": "lora", "adapter.r": 8, "seed": 0})
    assert name == "method-lora_r-8_seed-0-" + name[-8:]
    assert len(name[-8:]) == 8 and int(name[-8:], 16) >= 0
    assert point_name({"adapter.r": 8}) != point_name({"adapter.r": 4})
    assert point_name({"adapter.lr": 1e-3}).startswith("lr-0.001-")
    assert point_name({"adapter.target_modules": ["q_proj", "v_proj"]}).startswith(
        "target_modules-q_proj-v_proj-"
    )
    assert len(point_name({f"k{i}": "x" * 20 for i in range(10)})) <= 64 + 9
    # stable across processes (no PYTHONHASHSEED dependence)
    code = "from qtn.sweep.grid import point_name; print(point_name({'adapter.r': 8, 'seed': 1}))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == point_name({"adapter.r": 8, "seed": 1})


def test_known_name_and_hash_values():
    # pinned: changing the naming scheme would orphan every existing sweep folder
    assert point_name({"adapter.r": 8, "seed": 1}) == "r-8_seed-1-9af1e0ac"
    assert config_hash({"a": 1}) == "015abd7f5cc57a2d"
    assert config_hash({"a": 1, "name": "x", "out_dir": "y"}) == config_hash({"a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})


@pytest.mark.parametrize("module", [qtn.sweep.grid, qtn.sweep.aggregate, qtn.sweep.plots])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
