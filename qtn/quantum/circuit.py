"""Circuits as data: a flat gate list every executor, gradient rule, exporter and device model
reads the same way.

A :class:`Circuit` is a template: its parameterized gates ("slots") take their angle from a
trainable weight, a per-circuit input (data encoding), or both summed::

    angle(slot g) = weights[weight_index[g]] + inputs[b, input_index[g]]   (-1: term absent)

so one template with ``weights: (n_weights,)`` and ``inputs: (B, n_inputs)`` stands for a batch
of B circuits (one per token for the per-token QNN; B = 1 for a weight-space circuit core).
Qubit 0 is the most significant bit of a basis-state index everywhere in qtn (``|q0 q1 ...>``);
the external SDKs' little-endian order is converted in one place (``qtn.quantum.bitorder``).

Gates (``GATES``): ``ry``, ``rx``, ``rz`` (one qubit, parameterized), ``crz`` (control, target;
parameterized), ``cz`` and ``cnot`` (control, target; fixed). Conventions are quimb's, qiskit's
and pyqpanda3's: ``RY(t) = [[c, -s], [s, c]]`` with c = cos t/2, s = sin t/2;
``RZ(t) = diag(e^{-it/2}, e^{it/2})``; ``CRZ(t) = |0><0| (x) I + |1><1| (x) RZ(t)``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

import jax
import jax.numpy as jnp
import numpy as np

from qtn.tn.ansatz import CircuitSpec


@dataclass(frozen=True)
class GateKind:
    """Static facts about one gate name: qubit count, whether it takes an angle, how it acts
    on basis states (``rotation`` 2x2, ``diagonal`` phase, ``permutation`` of basis states),
    and its parameter-shift rule ``((shift, coefficient), ...)``: d<f>/dt = sum c <f(t + s)>."""

    n_qubits: int
    parameterized: bool
    action: str
    shift_rule: tuple[tuple[float, float], ...] = ()


_HALF_PI = np.pi / 2
_TWO_TERM = ((_HALF_PI, 0.5), (-_HALF_PI, -0.5))
# Controlled rotations have eigenvalues {0, +-1/2} of their generator: the four-term rule
# (Anselmetti et al. 2021; PennyLane's CRZ recipe), exact for any angle.
_C1, _C2 = (np.sqrt(2) + 1) / (4 * np.sqrt(2)), (np.sqrt(2) - 1) / (4 * np.sqrt(2))
_FOUR_TERM = (
    (_HALF_PI, _C1),
    (-_HALF_PI, -_C1),
    (3 * _HALF_PI, -_C2),
    (-3 * _HALF_PI, _C2),
)

GATES = MappingProxyType(
    {
        "ry": GateKind(1, True, "rotation", _TWO_TERM),
        "rx": GateKind(1, True, "rotation", _TWO_TERM),
        "rz": GateKind(1, True, "rotation", _TWO_TERM),
        "crz": GateKind(2, True, "diagonal", _FOUR_TERM),
        "cz": GateKind(2, False, "diagonal"),
        "cnot": GateKind(2, False, "permutation"),
    }
)


@dataclass(frozen=True)
class Gate:
    """One gate: ``name`` in :data:`GATES`, ``qubits`` (control first for two-qubit gates),
    and for parameterized gates the index of its weight and/or input angle (-1 = none)."""

    name: str
    qubits: tuple[int, ...]
    weight: int = -1
    input: int = -1

    @property
    def kind(self) -> GateKind:
        return GATES[self.name]


@dataclass(frozen=True)
class Circuit:
    """A circuit template on ``n_qubits`` with ``n_weights`` trainable and ``n_inputs``
    per-circuit angles (hashable: a jit-static value). Validated on construction."""

    n_qubits: int
    gates: tuple[Gate, ...]
    n_weights: int
    n_inputs: int = 0
    name: str = "circuit"

    def __post_init__(self):
        if self.n_qubits < 1:
            raise ValueError(f"a circuit needs >= 1 qubit, got {self.n_qubits}")
        used_w, used_x = set(), set()
        for i, g in enumerate(self.gates):
            if g.name not in GATES:
                raise ValueError(f"gate {i}: unknown gate {g.name!r}; known: {sorted(GATES)}")
            kind = g.kind
            if len(g.qubits) != kind.n_qubits or len(set(g.qubits)) != len(g.qubits):
                raise ValueError(
                    f"gate {i} ({g.name}) acts on qubits {g.qubits}; it needs "
                    f"{kind.n_qubits} distinct qubit(s)"
                )
            if not all(0 <= q < self.n_qubits for q in g.qubits):
                raise ValueError(
                    f"gate {i} ({g.name}) acts on qubits {g.qubits}, outside 0..{self.n_qubits - 1}"
                )
            if kind.parameterized:
                if g.weight < 0 and g.input < 0:
                    raise ValueError(f"gate {i} ({g.name}) takes an angle but has no source")
                if g.weight >= self.n_weights or g.input >= self.n_inputs:
                    raise ValueError(
                        f"gate {i} ({g.name}) reads weight {g.weight} / input {g.input}; the "
                        f"circuit has {self.n_weights} weights and {self.n_inputs} inputs"
                    )
                used_w.add(g.weight)
                used_x.add(g.input)
            elif g.weight >= 0 or g.input >= 0:
                raise ValueError(f"gate {i} ({g.name}) takes no angle")

    @property
    def slots(self) -> tuple[int, ...]:
        """Indices (into ``gates``) of the parameterized gates, in time order."""
        return tuple(i for i, g in enumerate(self.gates) if g.kind.parameterized)

    @property
    def n_slots(self) -> int:
        return len(self.slots)

    @property
    def is_real(self) -> bool:
        """True when every gate is real (RY, CZ, CNOT): the state stays real."""
        return all(g.name in ("ry", "cz", "cnot") for g in self.gates)

    @property
    def dim(self) -> int:
        return 2**self.n_qubits

    def two_qubit_gates(self) -> int:
        return sum(g.kind.n_qubits == 2 for g in self.gates)

    def depth(self) -> int:
        """Circuit depth: the longest chain of gates sharing qubits."""
        level = [0] * self.n_qubits
        for g in self.gates:
            top = max(level[q] for q in g.qubits) + 1
            for q in g.qubits:
                level[q] = top
        return max(level, default=0)

    def slot_angles(self, weights: jax.Array, inputs: jax.Array | None = None) -> jax.Array:
        """Angles of every slot: ``weights: (n_weights,)``, ``inputs: (B, n_inputs)`` or None
        -> ``(B, n_slots)`` (B = 1 without inputs). Differentiable in both."""
        widx, xidx = _slot_sources(self)
        weights = jnp.asarray(weights)
        if weights.shape != (self.n_weights,):
            raise ValueError(f"{self.name}: weights have shape {weights.shape}, expected "
                             f"({self.n_weights},)")
        if self.n_inputs:
            if inputs is None or inputs.ndim != 2 or inputs.shape[1] != self.n_inputs:
                got = None if inputs is None else inputs.shape
                raise ValueError(
                    f"{self.name}: inputs have shape {got}, expected (batch, {self.n_inputs})"
                )
        elif inputs is not None:
            raise ValueError(f"{self.name} takes no inputs, got shape {inputs.shape}")
        dtype = jnp.result_type(weights.dtype, jnp.float32)
        if self.n_weights:
            w = jnp.where(widx >= 0, weights.astype(dtype)[np.maximum(widx, 0)], 0.0)
        else:  # an input-only circuit
            w = jnp.zeros(widx.shape, dtype)
        if not self.n_inputs:
            return w[None, :]
        x = inputs.astype(dtype)[:, np.maximum(xidx, 0)]
        return w[None, :] + jnp.where(xidx[None, :] >= 0, x, 0.0)


@functools.lru_cache(maxsize=256)
def _slot_sources(circuit: Circuit) -> tuple[np.ndarray, np.ndarray]:
    gates = [circuit.gates[i] for i in circuit.slots]
    return np.array([g.weight for g in gates], np.int64), np.array([g.input for g in gates],
                                                                  np.int64)


def _entanglers(spec: CircuitSpec, n: int, layer: int) -> Iterable[tuple[int, int]]:
    start = layer % 2 if spec.pattern == "brickwork" else 0
    step = 2 if spec.pattern == "brickwork" else 1
    return ((q, q + 1) for q in range(start, n - 1, step))


def ansatz_circuit(spec: CircuitSpec, n: int) -> Circuit:
    """The weight-space circuit of ``spec`` on ``n`` qubits, weights = ``angles.reshape(-1)``
    of ``spec.angle_shape(n)``; same gate order as :func:`qtn.tn.circuit_tn`. ``hea``: RY per
    qubit then the entanglers, per layer; ``general``: RX, RY, RZ per qubit (angles[..., 0..2])
    then the entanglers."""
    gates: list[Gate] = []
    per = 1 if spec.ansatz == "hea" else 3
    names = ("ry",) if spec.ansatz == "hea" else ("rx", "ry", "rz")
    for layer in range(spec.depth):
        for q in range(n):
            base = (layer * n + q) * per
            gates.extend(Gate(name, (q,), weight=base + a) for a, name in enumerate(names))
        gates.extend(Gate(spec.entangler, pair) for pair in _entanglers(spec, n, layer))
    return Circuit(n, tuple(gates), spec.depth * n * per, name=f"{spec.ansatz}{n}x{spec.depth}")


def qnn_circuit(n: int, layers: int) -> Circuit:
    """The per-token QNN of the paper's QTHA (authors' code, ``qpeft_arch`` with ``C``):
    per layer, ``RY(input_i)`` on qubit i (re-uploaded every layer), CRZ on the ring
    (control i, target i+1 mod n), RY on every qubit, CRZ on the reverse ring (control i,
    target i-1 mod n), RY on every qubit. Weights ``(layers, 4, n)`` flattened: [crz ring,
    ry, crz reverse ring, ry]; inputs ``(B, n)``. Needs n >= 2 (a ring)."""
    if n < 2:
        raise ValueError(f"the QNN needs r >= 2 qubits for its CRZ ring, got {n}")
    if layers < 1:
        raise ValueError(f"the QNN needs >= 1 layer, got {layers}")
    gates: list[Gate] = []
    for layer in range(layers):
        base = layer * 4 * n
        gates.extend(Gate("ry", (i,), input=i) for i in range(n))
        gates.extend(Gate("crz", (i, (i + 1) % n), weight=base + i) for i in range(n))
        gates.extend(Gate("ry", (i,), weight=base + n + i) for i in range(n))
        gates.extend(Gate("crz", (i, (i - 1) % n), weight=base + 2 * n + i) for i in range(n))
        gates.extend(Gate("ry", (i,), weight=base + 3 * n + i) for i in range(n))
    return Circuit(n, tuple(gates), layers * 4 * n, n_inputs=n, name=f"qnn{n}x{layers}")
