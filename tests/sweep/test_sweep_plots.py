"""Pareto fronts and plot files (PNG + SVG)."""

from sweep_helpers import write_sweep

from qtn.sweep.collect import collect
from qtn.sweep.plots import axis_keys, make_plots, pareto_front


def test_pareto_front_lower_and_higher_better():
    pts = [(1, 3.0), (2, 2.0), (2, 2.5), (3, 2.5), (4, 1.0)]
    assert pareto_front(pts) == [(1, 3.0), (2, 2.0), (4, 1.0)]
    assert pareto_front(pts, higher_is_better=True) == [(1, 3.0)]
    assert pareto_front([(1, 0.5), (2, 0.7), (3, 0.6)], higher_is_better=True) == [
        (1, 0.5),
        (2, 0.7),
    ]
    assert pareto_front([]) == []


def test_axis_keys():
    rows = [
        {"adapter.bond": 2, "adapter.depth": 1, "seed": 0, "adapter.method": "circuit_mpo"},
        {"adapter.bond": 4, "adapter.depth": 1, "seed": 1, "adapter.method": "circuit_mpo"},
    ]
    assert axis_keys(rows) == ["adapter.bond"]


def test_plots_are_png_and_svg(tmp_path):
    rows = collect(write_sweep(tmp_path / "run"))
    files = make_plots(rows, tmp_path / "plots")
    stems = sorted({f.stem for f in files})
    assert stems == sorted(
        [
            "pareto_eval_loss",
            "pareto_metric",
            "eval_loss_vs_adapter_r",
            "metric_vs_adapter_r",
            "eval_loss_vs_adapter_bond",
            "metric_vs_adapter_bond",
            "log10_flops_vs_adapter_bond",
            "eval_loss_vs_adapter_depth",
            "metric_vs_adapter_depth",
            "log10_flops_vs_adapter_depth",
        ]
    )
    for stem in stems:
        png = (tmp_path / "plots" / f"{stem}.png").read_bytes()
        svg = (tmp_path / "plots" / f"{stem}.svg").read_text()
        assert png.startswith(b"\x89PNG") and "<svg" in svg
    only = make_plots(rows, tmp_path / "p2", x_keys=["adapter.depth"])
    assert len(only) == 2 * (2 + 3)


def test_several_tasks_get_suffixes_and_nothing_done_gives_nothing(tmp_path):
    rows = collect(write_sweep(tmp_path / "a", "sentiment")) + collect(
        write_sweep(tmp_path / "b", "arithmetic")
    )
    files = make_plots(rows, tmp_path / "plots", x_keys=[])
    assert sorted(f.name for f in files if f.suffix == ".png") == [
        "pareto_eval_loss_arithmetic.png",
        "pareto_eval_loss_sentiment.png",
        "pareto_metric_arithmetic.png",
        "pareto_metric_sentiment.png",
    ]
    assert make_plots([{"status": "failed"}], tmp_path / "none") == []


def test_loss_curves_from_metrics_jsonl(tmp_path):
    import json

    from qtn.sweep.plots import loss_curves, train_curve

    rows = []
    for variant, seed, losses in (("A", 0, [3.0, 2.0]), ("A", 1, [1.0, 0.0]), ("B", 0, [5.0])):
        d = tmp_path / f"{variant}{seed}"
        d.mkdir()
        lines = [{"step": i + 1, "loss": x} for i, x in enumerate(losses)]
        lines.append({"step": 2, "eval_loss": 9.0})  # eval rows are not training loss
        (d / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
        rows.append({"variant": variant, "dir": str(d)})
    assert train_curve(tmp_path / "A0") == {1: 3.0, 2: 2.0}
    files = loss_curves(rows, tmp_path / "plots" / "loss_curves")
    assert [f.suffix for f in files] == [".png", ".svg"]
    assert loss_curves([{"variant": "x", "dir": str(tmp_path / "none")}], tmp_path / "p") == []
