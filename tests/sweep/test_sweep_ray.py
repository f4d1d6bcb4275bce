"""The Ray backend with the fake trainer on a local Ray instance (``ray.init(num_cpus=2)``):
points run as Ray tasks into the same sweep folder, finished points are skipped and an
interrupted one resumes from its checkpoint, exactly as with the local backend."""

from pathlib import Path

import pytest

from qtn.sweep.grid import expand_points
from qtn.sweep.layout import read_json
from qtn.sweep.runner import plan_point

ray = pytest.importorskip("ray")

BASE = {"seed": 0, "adapter": {"method": "lora", "target_modules": ["q_proj"]}}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def local_ray():
    """A 2-CPU local Ray whose workers import this checkout's qtn."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_sweep_runs_skips_and_resumes(tmp_path, fake_template, local_ray):
    from qtn.sweep.ray_backend import run_points_ray

    points = expand_points(BASE, {"adapter.r": [2, 4]})
    (crashy,) = expand_points(BASE, None, [{"fake.crash_without_resume": True}])
    points = [*points, crashy]
    kw = dict(template=fake_template, resources={"num_cpus": 1}, progress=False)

    first = run_points_ray(points, tmp_path, **kw)
    assert [o.status for o in first.outcomes] == ["done", "done", "failed"]
    for p in points[:2]:
        d = tmp_path / "points" / p.name
        assert read_json(d / "point.json")["status"] == "done"
        assert read_json(d / "results.json")["trainable_params"] == 100 * p.overrides["adapter.r"]
    assert plan_point(crashy, tmp_path).action == "resume"

    second = run_points_ray(points, tmp_path, **kw)
    assert [o.status for o in second.outcomes] == ["skipped", "skipped", "done"]
    d = tmp_path / "points" / crashy.name
    state = read_json(d / "point.json")
    assert state["attempts"] == 2 and state["resumed"] is True
    assert read_json(d / "results.json")["resumed"] is True


def test_task_options_from_resources():
    from qtn.sweep.ray_backend import task_options

    assert task_options(None) == {"num_cpus": 1, "num_gpus": 0}
    assert task_options({"num_gpus": 1, "tpu": 4}) == {
        "num_cpus": 1,
        "num_gpus": 1,
        "resources": {"tpu": 4.0},
    }
    with pytest.raises(ValueError, match="resources.num_cpus must be a number >= 0"):
        task_options({"num_cpus": -1})
