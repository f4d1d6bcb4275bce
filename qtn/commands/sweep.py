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
    from qtn.sweep.runner import CommandTemplate, plan_point
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
    stage = StageRunner(args.backend, args.address, run_kw)
    if spec.select is not None and not args.dry_run:
        try:
            points = selected_points(spec, run=not args.report_only, stage=stage)
        except SweepStopped as stop:
            print(stop, file=sys.stderr)
            return PREEMPTED_EXIT_CODE
    elif spec.select is not None:
        from qtn.sweep.select import local_next, selection_points

        sel = spec.select
        only = None
        if sel.search == "local":  # the first round; later rounds follow its scores
            only = {p.variant: local_next(sel.values, {}, sel.start) for p in spec.expand()}
        points = selection_points(sel, spec.base, spec.grid, spec.points, spec.common,
                                  spec.seed_keys, only=only)
        round_ = " (local search: its first round)" if only else ""
        print(f"stage 1 of 2: choose {sel.key} on {sel.split}{round_} "
              f"(the final points depend on its results)")
        spec = spec.sub(SELECT_DIR)
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
        outcome = stage.run(points, spec)
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


class StageRunner:
    """Runs a list of points into a sweep folder with the chosen backend: kept points
    (``keep:``, :mod:`qtn.sweep.keep`) are restored first and every finished point is kept."""

    def __init__(self, backend: str, address: str | None, run_kw: dict):
        self.backend, self.address, self.run_kw = backend, address, run_kw

    def run(self, points, spec):
        from qtn.sweep.keep import keep_point, keep_points, restore_points
        from qtn.sweep.runner import run_points

        if spec.keep is not None:
            restored = restore_points(points, spec.out, spec.keep)
            if restored:
                print(f"sweep: {len(restored)} finished point(s) restored from {spec.keep}")
        try:
            if self.backend == "ray":
                from qtn.sweep.ray_backend import run_points_ray

                kw = self.run_kw
                return run_points_ray(
                    points, spec.out, address=self.address, resources=spec.resources,
                    template=kw["template"], env=kw["env"], timeout_s=kw["timeout_s"],
                    progress=kw["progress"],
                )
            on_done = None
            if spec.keep is not None:
                def on_done(folder, keep=spec.keep):
                    return keep_point(folder, keep)
            return run_points(points, spec.out, on_done=on_done, **self.run_kw)
        finally:
            if spec.keep is not None:
                keep_points(points, spec.out, spec.keep)


def selected_points(spec, *, run: bool, stage: StageRunner):
    """Stage 1 of a sweep with ``select`` (``qtn.sweep.select``): run (unless ``run`` is
    False) the selection points into ``<out>/select`` (every value, or a local search), choose
    per variant, write ``<out>/selection.json``; return the final points, those that repeat a
    finished selection run's training seeded with it (:mod:`qtn.sweep.reuse`)."""
    from qtn.sweep.collect import collect, write_manifest, write_results
    from qtn.sweep.layout import write_json
    from qtn.sweep.reuse import seed_points
    from qtn.sweep.select import choose, final_points, selection_points

    sel = spec.select
    every = selection_points(sel, spec.base, spec.grid, spec.points, spec.common,
                             spec.seed_keys)
    sub = spec.sub(SELECT_DIR)
    root = sub.out
    if sel.search == "local":
        stage1 = _local_search(spec, sub, every, run=run, stage=stage)
    else:
        stage1 = every
        if run:
            root.mkdir(parents=True, exist_ok=True)
            write_manifest(root, f"{spec.name} (select {sel.key})", stage1, spec.source)
            _run_selection(stage, stage1, sub)
    rows = collect(root) if root.is_dir() else []
    write_results(rows, root) if rows else None
    choices = choose(sel, rows)
    spec.out.mkdir(parents=True, exist_ok=True)
    write_json(spec.out / SELECTION_FILE, {
        "key": sel.key, "values": list(sel.values), "split": sel.split, "by": sel.by,
        "search": sel.search, "variants": choices,
    })
    for variant, entry in choices.items():
        print(f"  {variant}: {sel.key} = {entry['value']}  (scores {entry['scores']})")
        if entry.get("edge"):
            print(f"warning: {variant}: the best {sel.key} is the grid's {entry['edge']} value "
                  f"{entry['value']}; its optimum may lie outside {list(sel.values)}: widen "
                  "select.values and rerun (finished runs are kept)", file=sys.stderr)
    final = final_points(sel, spec.base, spec.grid, spec.points, spec.common, spec.seed_keys,
                         choices)
    if run:
        seeded = seed_points(final, spec.out, stage1, root)
        if seeded:
            print(f"sweep: {len(seeded)} point(s) start from the finished training of their "
                  f"selection run (only their final evaluation runs)")
    return final


def _run_selection(stage: StageRunner, points, sub) -> None:
    outcome = stage.run(points, sub)
    if outcome.stopped_by:
        raise SweepStopped(_stopped_message(outcome.stopped_by, outcome))
    sel = sub.select
    print(f"select {sel.key} on {sel.split}: {outcome.count('done')} done, "
          f"{outcome.count('skipped')} skipped, {outcome.count('failed')} failed")


def _local_search(spec, sub, every, *, run: bool, stage: StageRunner):
    """``select.search: local``: rounds of :func:`qtn.sweep.select.local_next` per variant
    until no variant has a value left to run; returns the selection points it ran (the
    manifest's), in grid order."""
    from qtn.sweep.collect import collect, write_manifest
    from qtn.sweep.keep import restore_points
    from qtn.sweep.layout import POINT_FILE, point_dir, read_json
    from qtn.sweep.select import local_next, score

    sel = spec.select
    root = sub.out
    if run:
        root.mkdir(parents=True, exist_ok=True)
        if sub.keep is not None:
            restore_points(every, root, sub.keep)
    by_value = {(p.variant, repr(p.overrides[sel.key])): p for p in every}
    # points with a folder of their current config (earlier rounds, kept, interrupted) count
    known = {
        p.name for p in every
        if (read_json(point_dir(root, p.name) / POINT_FILE) or {}).get("config_hash")
        == p.config_hash
    }
    name = f"{spec.name} (select {sel.key}, local search)"
    for _ in range(len(every) + 1):
        active = [p for p in every if p.name in known]
        if run:
            write_manifest(root, name, active, spec.source)
        rows = collect(root) if active else []
        scores: dict[str, dict[str, float | None]] = {p.variant: {} for p in every}
        ended = set()
        for r in rows:
            if r["status"] in ("done", "failed"):
                ended.add(r["point"])
                scores[r["variant"]][repr(r.get(sel.key))] = (
                    score(r, sel.by) if r["status"] == "done" else None
                )
        todo = {p.name: p for p in active if p.name not in ended}  # interrupted: resume
        for variant, seen in scores.items():
            for value in local_next(sel.values, seen, sel.start):
                point = by_value[(variant, repr(value))]
                todo[point.name] = point
        if not todo or not run:
            return active
        known |= set(todo)
        write_manifest(root, name, [p for p in every if p.name in known], spec.source)
        print(f"select {sel.key} (local search): {len(todo)} point(s) to run")
        _run_selection(stage, list(todo.values()), sub)
    raise RuntimeError("local search did not converge (a bug: each round ends a point)")
