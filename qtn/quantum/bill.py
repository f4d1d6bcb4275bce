"""The quantum bill: what a run's circuits cost on a QPU, from shapes only.

For every circuit a model sends to its executor (a :class:`CircuitUse`: the template, and
whether it runs once per token or once per forward), per training step:

- forward circuits: ``tokens`` (per-token circuits, e.g. the paper's QNN) or 1 (weight-space
  circuit cores), per module;
- gradient circuits: ``parameter_shift``: forward x S, S = sum over parameterized gate slots
  of their rule's terms (2 per RX/RY/RZ, 4 per CRZ; input-encoding slots included, since the
  input's gradient is needed); ``spsa``: forward x 2; ``autodiff`` / ``simulator``: none on the
  QPU (the backward pass is simulated);
- distinct circuits: at most the circuits (equal tokens give equal circuits; the counted run
  reports the actual number); shots = circuits x shots;
- jobs: ``ceil(circuits / job_size)`` per executor call (one call for the forward of a
  module, one per chunk of shifted circuits);
- native two-qubit gates and depth on the device: qtn's U3 + CZ decomposition placed by an
  embedding of the circuit in the coupling graph (no SWAPs needed), else routed by qiskit's
  transpiler when installed (``qtn[qiskit]``), else the unrouted counts, flagged;
- QPU time: ``shots x shot_time_s + jobs x job_overhead_s``. The defaults are assumptions, not
  Origin figures (none is published): ``shot_time_s = 250 us`` is the typical repetition
  delay of IBM's superconducting QPUs (``backend.default_rep_delay``), ``job_overhead_s = 5 s``
  per job excludes queueing. Override both in the ``quantum:`` section.

:func:`step_bill` returns per-step numbers; :meth:`QuantumBill.for_run` scales them by steps
and adds the forward-only evaluation circuits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from qtn.quantum.circuit import Circuit
from qtn.quantum.devices import Device
from qtn.quantum.gradients import shifted_circuits
from qtn.quantum.noise import native_counts


@dataclass(frozen=True)
class CircuitUse:
    """One module's circuit: ``per_token`` circuits run once per token, others once per
    forward pass."""

    module: str
    label: str
    circuit: Circuit
    per_token: bool


@dataclass(frozen=True)
class CircuitCost:
    """Per-step numbers of one :class:`CircuitUse`."""

    module: str
    label: str
    per_token: bool
    qubits: int
    weights: int
    inputs: int
    forward_circuits: int
    gradient_circuits: int
    shifts_per_circuit: int
    jobs: int
    two_qubit_gates: int
    depth: int
    routed: str

    @property
    def circuits(self) -> int:
        return self.forward_circuits + self.gradient_circuits


@dataclass(frozen=True)
class QuantumBill:
    """Per-step costs of every circuit use, plus what scaling to a run needs."""

    executor: str
    gradient: str
    device: str
    shots: int
    tokens_per_step: int
    job_size: int
    rows: tuple[CircuitCost, ...]
    shot_time_s: float
    job_overhead_s: float
    notes: tuple[str, ...] = field(default=())

    def _totals(self, circuits: int, jobs: int) -> dict[str, float]:
        shots = circuits * self.shots
        return {
            "circuits": circuits,
            "shots": shots,
            "jobs": jobs,
            "qpu_seconds": shots * self.shot_time_s + jobs * self.job_overhead_s,
        }

    def step_totals(self) -> dict[str, float]:
        """Circuits (forward, gradient, all; distinct <= all), shots, jobs, QPU seconds."""
        return {
            "forward_circuits": sum(r.forward_circuits for r in self.rows),
            "gradient_circuits": sum(r.gradient_circuits for r in self.rows),
            **self._totals(sum(r.circuits for r in self.rows), sum(r.jobs for r in self.rows)),
        }

    def eval_totals(self, eval_tokens: int, eval_batches: int) -> dict[str, float]:
        """A forward-only evaluation of ``eval_tokens`` tokens in ``eval_batches`` batches."""
        circuits = jobs = 0
        for r in self.rows:
            per_batch = math.ceil(eval_tokens / max(eval_batches, 1)) if r.per_token else 1
            circuits += per_batch * eval_batches
            jobs += math.ceil(per_batch / self.job_size) * eval_batches
        return self._totals(circuits, jobs)

    def for_run(self, steps: int, eval_tokens: int = 0, eval_batches: int = 0) -> dict:
        """Totals over ``steps`` training steps plus the evaluation (see :meth:`eval_totals`)."""
        step = self.step_totals()
        ev = self.eval_totals(eval_tokens, eval_batches) if eval_batches else self._totals(0, 0)
        return {"steps": steps, **self._totals(
            steps * step["circuits"] + ev["circuits"], steps * step["jobs"] + ev["jobs"]
        )}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rows"] = [asdict(r) | {"circuits": r.circuits} for r in self.rows]
        d["step"] = self.step_totals()
        return d

    def to_markdown(self, steps: int | None = None, eval_tokens: int = 0,
                    eval_batches: int = 0) -> str:
        """A table per circuit use, the step totals and (with ``steps``) the run totals."""
        lines = [
            f"Quantum bill: executor {self.executor}, gradient {self.gradient}, device "
            f"{self.device}, {self.shots} shots per circuit, {self.tokens_per_step} tokens "
            "per step",
            "",
            "| module | circuit | qubits | angles (w + x) | fwd circuits / step | "
            "grad circuits / step | shifts per circuit | jobs / step | 2q gates | depth |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.module} | {r.label} | {r.qubits} | {r.weights} + {r.inputs} | "
                f"{r.forward_circuits:,} | {r.gradient_circuits:,} | {r.shifts_per_circuit} | "
                f"{r.jobs:,} | {r.two_qubit_gates} | {r.depth} ({r.routed}) |"
            )
        t = self.step_totals()
        lines += [
            "",
            f"Per training step: {t['circuits']:,} circuits ({t['forward_circuits']:,} forward "
            f"+ {t['gradient_circuits']:,} for the gradient), <= {t['circuits']:,} distinct, "
            f"{t['shots']:,} shots, {t['jobs']:,} jobs, ~{_duration(t['qpu_seconds'])} of QPU "
            f"time (shot {self.shot_time_s * 1e6:.0f} us, job overhead {self.job_overhead_s} s:"
            " assumptions, see qtn.quantum.bill)",
        ]
        if steps is not None:
            r = self.for_run(steps, eval_tokens, eval_batches)
            lines.append(
                f"Per run ({steps} steps + evaluation of {eval_tokens:,} tokens): "
                f"{r['circuits']:,} circuits, {r['shots']:,} shots, {r['jobs']:,} jobs, "
                f"~{_duration(r['qpu_seconds'])} of QPU time"
            )
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def gradient_multiplier(circuit: Circuit, gradient: str) -> int:
    """Extra QPU circuits per forward circuit for one gradient evaluation."""
    if gradient == "parameter_shift":
        return shifted_circuits(circuit)
    if gradient == "spsa":
        return 2
    return 0


def device_counts(circuit: Circuit, device: Device) -> tuple[int, int, str]:
    """(two-qubit gates, depth, how they were obtained) of ``circuit`` on ``device``."""
    counts = native_counts(circuit)
    if device.layout(circuit) is not None:
        return counts["cz"], counts["depth"], "embedded, no SWAPs"
    try:
        from qtn.quantum.routing import routed_counts
    except ImportError:
        return counts["cz"], counts["depth"], "unrouted: install qtn[qiskit] to route"
    cz, depth = routed_counts(circuit, device)
    return cz, depth, "routed by qiskit"


def step_bill(
    uses: list[CircuitUse],
    *,
    tokens_per_step: int,
    forwards_per_step: int = 1,
    executor: str,
    gradient: str,
    device: Device,
    shots: int,
    job_size: int = 200,
    shot_time_s: float = 250e-6,
    job_overhead_s: float = 5.0,
    chunk_rows: int | None = None,
) -> QuantumBill:
    """The per-step bill of ``uses`` (see the module docstring). ``forwards_per_step``: forward
    passes per optimizer step (gradient accumulation). ``chunk_rows``: amplitudes per
    chunk of shifted circuits (default: ``qtn.quantum.gradients.DEFAULT_CHUNK_ROWS``), which
    sets how many executor calls, hence jobs, the shifted circuits take."""
    from qtn.quantum.gradients import DEFAULT_CHUNK_ROWS

    chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS
    rows, notes = [], []
    for use in uses:
        c = use.circuit
        per_call = math.ceil(tokens_per_step / forwards_per_step) if use.per_token else 1
        forward = per_call * forwards_per_step
        mult = gradient_multiplier(c, gradient)
        grad = forward * mult
        jobs = math.ceil(per_call / job_size)
        if gradient == "parameter_shift" and grad:
            per_chunk = max(1, min(mult, chunk_rows // max(1, per_call * c.dim)))
            calls = math.ceil(mult / per_chunk)
            jobs += calls * math.ceil(per_call * per_chunk / job_size)
        elif gradient == "spsa":
            jobs += 2 * math.ceil(per_call / job_size)
        jobs *= forwards_per_step
        two_q, depth, how = device_counts(c, device)
        rows.append(
            CircuitCost(
                module=use.module,
                label=use.label,
                per_token=use.per_token,
                qubits=c.n_qubits,
                weights=c.n_weights,
                inputs=c.n_inputs,
                forward_circuits=forward,
                gradient_circuits=grad,
                shifts_per_circuit=mult,
                jobs=jobs,
                two_qubit_gates=two_q,
                depth=depth,
                routed=how,
            )
        )
    if gradient == "simulator":
        notes.append("gradient 'simulator': the backward pass is simulated off the QPU")
    if any(r.routed.startswith("unrouted") for r in rows):
        notes.append("some circuits do not embed in the device: counts are unrouted")
    return QuantumBill(
        executor=executor,
        gradient=gradient,
        device=device.name,
        shots=shots,
        tokens_per_step=tokens_per_step,
        job_size=job_size,
        rows=tuple(rows),
        shot_time_s=shot_time_s,
        job_overhead_s=job_overhead_s,
        notes=tuple(notes),
    )
