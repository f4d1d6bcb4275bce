"""``qtn sweep SWEEP_YAML``: run a grid of ``qtn train`` runs, then collect results, plots and a
markdown summary (see ``qtn.sweep.spec`` for the sweep.yaml schema). ``--backend ray
[--address HOST:PORT]`` runs each point as a Ray task (:mod:`qtn.sweep.ray_backend`).

SIGTERM / SIGINT stop a local sweep: the running points checkpoint and exit, no new point
starts, and the command exits 75 (as ``qtn train`` does) saying how to resume."""

from __future__ import annotations

import argparse
import json
import sys


class SweepStopped(Exception):
    """A signal stopped the sweep (its running points checkpointed)."""


def _stopped_message(signame: str, outcome) -> str:
    return (f"sweep stopped by {signame}: {outcome.count('interrupted')} running point(s) "
            f"interrupted (they resume from their last checkpoint), "
            f"{outcome.count('not_started')} not started; rerun the same command to continue")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", help="sweep file, e.g. experiments/<name>/sweep.yaml")
    parser.add_argument(
        "--jobs", type=int, default=None, help="points run in parallel (default: the file's, 1)"
    )
    parser.add_argument("--out", default=None, help="sweep folder (default: the file's out)")
    parser.add_argument(
        "--dry-run", action="store_true", help="list the points and what would run; run nothing"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing; (re)write results.csv/jsonl, plots and summary.md from the folder",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the plots")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per point (default: the file's)"
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local: subprocesses on this machine (--jobs at a time); ray: one Ray task per "
        "point with the file's resources (pip install 'qtn[ray]'; the sweep folder must be on "
        "storage all nodes share)",
    )
    parser.add_argument(
        "--address",
        default=None,
        metavar="HOST:PORT",
        help="with --backend ray: the Ray cluster to join (default: start a local Ray)",
    )


def run(args: argparse.Namespace) -> int:
    from qtn.sweep.collect import write_manifest
    from qtn.sweep.outputs import write_outputs
    from qtn.sweep.runner import CommandTemplate, plan_point, run_points
    from qtn.sweep.spec import load_sweep
    from qtn.train.preemption import PREEMPTED_EXIT_CODE

    if args.address is not None and args.backend != "ray":
        raise ValueError("--address needs --backend ray")
    spec = load_sweep(args.sweep).with_out(args.out)
    template = CommandTemplate(spec.command) if spec.command else CommandTemplate()
    jobs = args.jobs if args.jobs is not None else spec.jobs
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    run_kw = dict(
        jobs=jobs,
        template=template,
        env=spec.env,
        timeout_s=args.timeout if args.timeout is not None else spec.timeout_s,
        progress=not args.no_progress,
    )
    if spec.select is not None and not args.dry_run:
        try:
            points = selected_points(spec, run=not args.report_only, run_kw=run_kw)
        except SweepStopped as stop:
            print(stop, file=sys.stderr)
            return PREEMPTED_EXIT_CODE
    elif spec.select is not None:
        from qtn.sweep.select import selection_points

        points = selection_points(spec.select, spec.base, spec.grid, spec.points, spec.common,
                                  spec.seed_keys)
        print(f"stage 1 of 2: choose {spec.select.key} on {spec.select.split} "
              f"(the final points depend on its results)")
        spec = spec.with_out(spec.out / SELECT_DIR)
    else:
        points = spec.expand()
    if args.dry_run:
        print(f"sweep {spec.name}: {len(points)} points -> {spec.out}")
        for p in points:
            plan = plan_point(p, spec.out)
            action = plan.action + (" (stale folder moved aside)" if plan.stale_hash else "")
            argv = template.render(
                config=plan.dir / "train_config.yaml",
                out=plan.dir,
                name=p.name,
                resume=plan.action == "resume",
            )
            print(f"{p.index:4d} {action:8s} {p.name}  {json.dumps(dict(p.overrides))}")
            print(f"       $ {' '.join(argv)}")
        return 0
    if not args.report_only:
        spec.out.mkdir(parents=True, exist_ok=True)
        write_manifest(spec.out, spec.name, points, spec.source)
        timeout = args.timeout if args.timeout is not None else spec.timeout_s
        if args.backend == "ray":
            from qtn.sweep.ray_backend import run_points_ray

            outcome = run_points_ray(
                points,
                spec.out,
                address=args.address,
                resources=spec.resources,
                template=template,
                env=spec.env,
                timeout_s=timeout,
                progress=not args.no_progress,
            )
        else:
            outcome = run_points(points, spec.out, **run_kw)
        if outcome.stopped_by:
            print(_stopped_message(outcome.stopped_by, outcome), file=sys.stderr)
            return PREEMPTED_EXIT_CODE
        print(
            f"sweep {spec.name}: {outcome.count('done')} done, {outcome.count('skipped')} "
            f"skipped, {outcome.count('failed')} failed"
        )
    elif not spec.out.is_dir():
        raise FileNotFoundError(f"no sweep folder to report on: {spec.out}")
    files = write_outputs(
        spec.out,
        name=spec.name,
        plots=not args.no_plots,
        plot_x=spec.plot_x,
        seed_keys=spec.seed_keys,
    )
    print(f"wrote {len(files)} files in {spec.out} (summary: {spec.out / 'summary.md'})")
    if args.report_only:
        return 0
    return 0 if outcome.ok else 1


SELECT_DIR = "select"
SELECTION_FILE = "selection.json"


def selected_points(spec, *, run: bool, run_kw: dict):
    """Stage 1 of a sweep with ``select`` (``qtn.sweep.select``): run (unless ``run`` is
    False) the selection points into ``<out>/select``, choose per variant, write
    ``<out>/selection.json``; return the final points."""
    from qtn.sweep.collect import collect, write_manifest, write_results
    from qtn.sweep.layout import write_json
    from qtn.sweep.runner import run_points
    from qtn.sweep.select import choose, final_points, selection_points

    sel = spec.select
    stage1 = selection_points(sel, spec.base, spec.grid, spec.points, spec.common,
                              spec.seed_keys)
    root = spec.out / SELECT_DIR
    if run:
        root.mkdir(parents=True, exist_ok=True)
        write_manifest(root, f"{spec.name} (select {sel.key})", stage1, spec.source)
        outcome = run_points(stage1, root, **run_kw)
        if outcome.stopped_by:
            raise SweepStopped(_stopped_message(outcome.stopped_by, outcome))
        print(f"select {sel.key} on {sel.split}: {outcome.count('done')} done, "
              f"{outcome.count('skipped')} skipped, {outcome.count('failed')} failed")
    rows = collect(root) if root.is_dir() else []
    write_results(rows, root) if rows else None
    choices = choose(sel, rows)
    spec.out.mkdir(parents=True, exist_ok=True)
    write_json(spec.out / SELECTION_FILE, {
        "key": sel.key, "values": list(sel.values), "split": sel.split, "by": sel.by,
        "variants": choices,
    })
    for variant, entry in choices.items():
        print(f"  {variant}: {sel.key} = {entry['value']}  (scores {entry['scores']})")
        if entry.get("edge"):
            print(f"warning: {variant}: the best {sel.key} is the grid's {entry['edge']} value "
                  f"{entry['value']}; its optimum may lie outside {list(sel.values)}: widen "
                  "select.values and rerun (finished runs are kept)", file=sys.stderr)
    return final_points(sel, spec.base, spec.grid, spec.points, spec.common, spec.seed_keys,
                        choices)
