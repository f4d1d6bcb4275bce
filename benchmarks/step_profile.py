"""Where a compiled step's time goes: run it under the JAX profiler and group XLA:CPU's executed
ops (fusions, library dots) by what they compute, using the compiled HLO.

Used by ``bench_train.py`` (the breakdown tables of ``benchmarks/results/train.md``)::

    report = profile_step(fn, args, compiled_text, steps=2)   # fn: the compiled executable
    report["categories"]   # [{"category", "seconds", "share", "ops", "gflop", "gflop_s"}, ...]
    report = profile_scopes(fn, args, compiled_text, ("qtha_qnn", "qtha_in"), steps=2)
    report["scopes"]       # [{"scope", "seconds", "share", "ops"}, ...]: by jax.named_scope

Op times are wall time split by concurrency: ops of one step may run at the same time on
XLA:CPU's worker threads (two independent dots each using both cores), so every stretch of wall
time is shared equally among the ops running in it. The op times then add up to the wall time
the step spends in ops (``op_seconds_total``), and an op's GFLOP/s is what it achieved on the
machine, not half of it because a neighbour ran beside it. ``concurrency`` gives the seconds
per step with 0, 1, 2, ... ops running.
Categories: matmuls (projections, the vocabulary projection, attention's batched products, with
their FLOPs and GFLOP/s), the vocabulary softmax / cross-entropy, the attention softmax and
mask, layout copies (transposes XLA inserts around dots), other elementwise work (norms, RoPE,
residuals, SwiGLU, adapters, optimizer).
"""

from __future__ import annotations

import collections
import itertools
import re
import tempfile
from pathlib import Path
from typing import Any

_INST = re.compile(r"^\s+(?:ROOT )?%([\w.\-]+) = (\S+?) ([\w\-]+)\((.*)$")
_COMP = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$")
_SHAPE = re.compile(r"[a-z]+\d*\[([\d,]*)\]")


def _computations(hlo: str) -> dict[str, list[str]]:
    comps: dict[str, list[str]] = {}
    name = None
    for line in hlo.splitlines():
        m = _COMP.match(line)
        if m and not line.startswith(" "):
            name = m.group(1)
            comps[name] = []
        elif line.startswith("}"):
            name = None
        elif name is not None:
            comps[name].append(line)
    return comps


def _dims(shape: str) -> list[int]:
    m = _SHAPE.search(shape)
    return [int(d) for d in m.group(1).split(",") if d] if m else []


def _dot_flops(line: str, shapes: dict[str, str]) -> tuple[float, bool, list[int]]:
    """FLOPs (2·out·contracted) of one dot instruction line, whether it is batched, and the
    output dims."""
    m = _INST.match(line)
    assert m is not None
    out = _dims(m.group(2))
    operands = re.findall(r"%([\w.\-]+)", m.group(4).split(")")[0])
    lhs = _dims(shapes.get(operands[0], "")) if operands else []
    contracting = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", line)
    k = 1
    if contracting and lhs:
        for d in contracting.group(1).split(","):
            if d:
                k *= lhs[int(d)]
    n_out = 1
    for d in out:
        n_out *= d
    batched = bool(re.search(r"lhs_batch_dims=\{\d", line))
    return 2.0 * n_out * k, batched, out


def categorize(hlo: str, vocab: int, seq: int) -> dict[str, tuple[str, float]]:
    """Executed-op name -> (category, FLOPs) for the ENTRY-level instructions of ``hlo``."""
    comps = _computations(hlo)
    shapes: dict[str, str] = {}
    for lines in comps.values():
        for line in lines:
            m = _INST.match(line)
            if m:
                shapes[m.group(1)] = m.group(2)
    out: dict[str, tuple[str, float]] = {}
    for lines in comps.values():
        for line in lines:
            m = _INST.match(line)
            if not m:
                continue
            name, shape, op, rest = m.groups()
            called = re.search(r"calls=%([\w.\-]+)", rest)
            body = comps.get(called.group(1), []) if called else []
            dots = [ln for ln in body if " dot(" in ln] or ([line] if op == "dot" else [])
            dims = _dims(shape)
            if dots:
                flops, batched, ddims = _dot_flops(dots[0], shapes)
                if vocab in ddims or any(vocab in _dims(shapes.get(o, "")) for o in
                                         re.findall(r"%([\w.\-]+)", dots[0].split("dot(")[1])):
                    cat = "matmul: vocabulary projection (lm_head)"
                elif batched:
                    cat = "matmul: attention (batched T x T)"
                else:
                    cat = "matmul: projections (q/k/v/o, MLP, adapters)"
                out[name] = (cat, flops)
            elif vocab in dims:
                out[name] = ("vocabulary softmax / cross-entropy", 0.0)
            elif len(dims) >= 2 and dims[-1] == seq and dims[-2] == seq:
                out[name] = ("attention softmax + mask", 0.0)
            elif name.startswith(("copy", "transpose")) or op in ("copy", "transpose"):
                out[name] = ("layout copies (transposes)", 0.0)
            elif op == "fusion" or body:
                out[name] = ("elementwise (norms, RoPE, residuals, SwiGLU, adapters, optimizer)",
                             0.0)
    return out


def op_seconds(fn: Any, args: tuple, steps: int = 2) -> tuple[collections.Counter, dict]:
    """Run ``fn(*args)`` ``steps`` times under the JAX profiler: seconds per step of every
    executed XLA:CPU op, by op name (wall time split among the ops running at once), and the
    seconds per step with k ops running (``{k: s}``, k = 0 is time between ops)."""
    import jax
    from jax._src.lib import _profile_data

    jax.block_until_ready(fn(*args))
    with tempfile.TemporaryDirectory() as folder:
        jax.profiler.start_trace(folder)
        for _ in range(steps):
            jax.block_until_ready(fn(*args))
        jax.profiler.stop_trace()
        files = sorted(Path(folder).rglob("*.xplane.pb"))
        data = _profile_data.ProfileData.from_file(str(files[-1]))
        events = []
        for plane in data.planes:
            for line in plane.lines:
                if "PjRtCpuClient" not in line.name and "XLAEigen" not in line.name:
                    continue
                for ev in line.events:
                    if not ev.name.startswith(("end:", "Threadpool", "ThunkExecutor", "Slinky")):
                        events.append((ev.start_ns, ev.start_ns + ev.duration_ns, ev.name))
    return split_by_concurrency(events, steps)


def split_by_concurrency(events: list[tuple[int, int, str]], steps: int = 1
                         ) -> tuple[collections.Counter, dict[int, float]]:
    """Events ``(start_ns, end_ns, name)`` -> (seconds per name, each stretch of wall time
    divided equally among the events covering it; seconds with k events running), per step."""
    times: collections.Counter = collections.Counter()
    running: collections.Counter = collections.Counter()
    if not events:
        return times, {}
    edges = sorted({t for start, end, _ in events for t in (start, end)})
    events = sorted(events)
    active: list[tuple[int, int, str]] = []
    nxt = 0
    for t0, t1 in itertools.pairwise(edges):
        while nxt < len(events) and events[nxt][0] <= t0:
            active.append(events[nxt])
            nxt += 1
        active = [e for e in active if e[1] > t0]
        span = (t1 - t0) / 1e9 / steps
        running[len(active)] += span
        for _, _, name in active:
            times[name] += span / len(active)
    return times, dict(sorted(running.items()))


def _grouped(times: collections.Counter, group_of: Any, key: str) -> tuple[list[dict], float]:
    """Op seconds summed per group (``group_of(op name)``), largest first: rows
    ``{key: group, "seconds", "share", "ops"}`` and the total over every op."""
    secs: collections.Counter = collections.Counter()
    count: collections.Counter = collections.Counter()
    for name, t in times.items():
        group = group_of(name)
        secs[group] += t
        count[group] += 1
    total = sum(secs.values())
    rows = [{key: g, "seconds": t, "share": t / total if total else float("nan"),
             "ops": count[g]} for g, t in secs.most_common()]
    return rows, total


def profile_step(fn: Any, args: tuple, hlo: str, *, vocab: int, seq: int,
                 steps: int = 2) -> dict[str, Any]:
    """Run ``fn(*args)`` ``steps`` times under the JAX profiler; op time per category (per step)."""
    times, running = op_seconds(fn, args, steps)
    cats = categorize(hlo, vocab, seq)
    rows, total = _grouped(times, lambda name: cats.get(name, ("other", 0.0))[0], "category")
    flops: collections.Counter = collections.Counter()
    for name in times:
        cat, f = cats.get(name, ("other", 0.0))
        flops[cat] += f
    for r in rows:
        f = flops[r["category"]]
        r["gflop"] = f / 1e9
        r["gflop_s"] = f / r["seconds"] / 1e9 if f and r["seconds"] else None
    return {"categories": rows, "op_seconds_total": total, "concurrency": running,
            "steps": steps}


_OP_NAME = re.compile(r'op_name="([^"]*)"')


def scope_of_ops(hlo: str, scopes: tuple[str, ...]) -> dict[str, str]:
    """Executed-op name -> the innermost of ``scopes`` (``jax.named_scope`` names; the last
    one in its ``op_name`` metadata), or ``rest``. A fusion carries its root op's metadata."""
    out: dict[str, str] = {}
    for lines in _computations(hlo).values():
        for line in lines:
            m, meta = _INST.match(line), _OP_NAME.search(line)
            if not m:
                continue
            text = meta.group(1) if meta else ""  # e.g. jit(step)/transpose(jvp(qtha_qnn))/dot
            found = [(text.rfind(s), s) for s in scopes if s in text]
            out[m.group(1)] = max(found)[1] if found else "rest"
    return out


def profile_scopes(fn: Any, args: tuple, hlo: str, scopes: tuple[str, ...],
                   steps: int = 2) -> dict[str, Any]:
    """Op time per named scope of ``scopes`` (and ``rest``), per step."""
    times, running = op_seconds(fn, args, steps)
    where = scope_of_ops(hlo, scopes)
    rows, total = _grouped(times, lambda name: where.get(name, "rest"), "scope")
    return {"scopes": rows, "op_seconds_total": total, "concurrency": running, "steps": steps}
