"""Sweeps: a grid of ``qtn train`` runs (:mod:`.grid`, :mod:`.spec`), run resumably in
parallel subprocesses (:mod:`.runner`), collected (:mod:`.collect`), aggregated over seeds
(:mod:`.aggregate`), plotted (:mod:`.plots`) and reported (:mod:`.report`, :mod:`.summary`).

The functions ``aggregate`` and ``collect`` are not re-exported here, so they do not shadow
their submodules, and :mod:`.report` (``python -m qtn.sweep.report``) is not imported
here, so running it as a module is clean. Nothing heavy is imported (matplotlib loads
when a plot is drawn).
"""

from qtn.sweep.aggregate import Comparison, Group, Stat, compare
from qtn.sweep.collect import collect_many, write_results
from qtn.sweep.grid import Point, expand_points, point_name
from qtn.sweep.plots import make_plots, pareto_front
from qtn.sweep.runner import CommandTemplate, SweepRun, plan_point, run_points
from qtn.sweep.spec import SweepSpec, load_sweep, parse_sweep

__all__ = [
    "CommandTemplate",
    "Comparison",
    "Group",
    "Point",
    "Stat",
    "SweepRun",
    "SweepSpec",
    "collect_many",
    "compare",
    "expand_points",
    "load_sweep",
    "make_plots",
    "pareto_front",
    "parse_sweep",
    "plan_point",
    "point_name",
    "run_points",
    "write_results",
]
