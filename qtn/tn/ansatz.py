"""Parameterized circuit ansätze: a frozen spec, its gate sequence, and its tensor network.

Two ansätze:

- ``"hea"`` hardware-efficient, real: per layer RY(theta[l, q]) on every qubit, then an
  entangler (CZ or CNOT) pattern. Real orthogonal gates -> a fully real network.
  angles: (depth, n).
- ``"general"``: per layer RZ·RY·RX(theta[l, q, :]) on every qubit, then the entanglers.
  Complex gates. angles: (depth, n, 3).

Entangler patterns: ``"chain"`` (0-1, 1-2, ..., every layer) or ``"brickwork"`` (0-1, 2-3, ...
on even layers, 1-2, 3-4, ... on odd layers).

Readouts say what the circuit core *is* in the layer's network (``qtn.tn.readout``):

- ``"unitary"``: the operator network itself, amplitude level (exact in simulation, not
  measurable on hardware). n = log2 of the legs on one side; the gates join the layer network.
- ``"probs"``: the core is an affine map of the basis-state probabilities p_k = |<k|U|0>|^2 of
  an n-qubit circuit, n = log2 of the whole core (what a QPU measures with shots).
- ``"expval"``: the core holds the Z-string expectations <Z^s> = sum_k (-1)^{s.k} p_k for all
  s in {0,1}^n (the n single-qubit <Z_i> are the weight-one entries).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import quimb.tensor as qtensor

from qtn.tn import gates

ANSATZE = ("hea", "general")
ENTANGLERS = ("cz", "cnot")
PATTERNS = ("chain", "brickwork")
READOUTS = ("unitary", "probs", "expval")


@dataclass(frozen=True)
class CircuitSpec:
    """A circuit replacing one MPO core. ``qubits=None``: derived from the core's legs."""

    depth: int
    ansatz: str = "hea"
    entangler: str = "cz"
    pattern: str = "chain"
    readout: str = "unitary"
    qubits: int | None = None

    def __post_init__(self):
        if self.depth < 1:
            raise ValueError(f"circuit depth must be >= 1, got {self.depth}")
        for name, value, allowed in (
            ("ansatz", self.ansatz, ANSATZE),
            ("entangler", self.entangler, ENTANGLERS),
            ("pattern", self.pattern, PATTERNS),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; choose from {allowed}")
        if self.readout not in READOUTS:
            raise ValueError(f"unknown readout {self.readout!r}; choose from {READOUTS}")
        if self.qubits is not None and self.qubits < 1:
            raise ValueError(f"qubits must be >= 1, got {self.qubits}")

    @property
    def is_complex(self) -> bool:
        """Whether the site's *core* is complex (measured readouts are always real)."""
        return self.ansatz == "general" and self.readout == "unitary"

    @property
    def measured(self) -> bool:
        """A measured readout: the core is computed from |amplitudes|^2 before the layer
        contraction (the gates cannot join the layer network: the map is not linear)."""
        return self.readout != "unitary"

    def angle_shape(self, n: int) -> tuple[int, ...]:
        return (self.depth, n) if self.ansatz == "hea" else (self.depth, n, 3)

    def ops(self, n: int) -> tuple[tuple, ...]:
        """Gate sequence in time order: ``("rot", layer, q)`` or ``("ent", q1, q2)``."""
        out: list[tuple] = []
        for layer in range(self.depth):
            out.extend(("rot", layer, q) for q in range(n))
            start = layer % 2 if self.pattern == "brickwork" else 0
            step = 2 if self.pattern == "brickwork" else 1
            out.extend(("ent", q, q + 1) for q in range(start, n - 1, step))
        return tuple(out)


def rotation_gates(spec: CircuitSpec, angles: jax.Array) -> jax.Array:
    """angles: spec.angle_shape(n) -> (depth, n, 2, 2) single-qubit gate matrices."""
    return gates.ry(angles) if spec.ansatz == "hea" else gates.rzyx(angles)


def circuit_tn(
    spec: CircuitSpec, angles, n: int, in_id: str = "b{}", out_id: str = "k{}"
) -> qtensor.TensorNetwork:
    """The circuit's operator network: open legs ``in_id.format(q)`` (input) and
    ``out_id.format(q)`` (output), quimb's ``Circuit.uni`` convention. Arrays are jax arrays
    when ``angles`` is one (so the network can live inside jit)."""
    rots = rotation_gates(spec, jnp.asarray(angles))
    wire = [in_id.format(q) for q in range(n)]
    tensors = []
    for g, op in enumerate(spec.ops(n)):
        if op[0] == "rot":
            _, layer, q = op
            new = f"_g{g}_{q}"
            tensors.append(qtensor.Tensor(rots[layer, q], (new, wire[q]), tags={"ROT", f"Q{q}"}))
            wire[q] = new
        else:
            _, q1, q2 = op
            new1, new2 = f"_g{g}_{q1}", f"_g{g}_{q2}"
            arr = gates.TWO_QUBIT[spec.entangler].astype(rots.dtype)
            inds = (new1, new2, wire[q1], wire[q2])
            tensors.append(qtensor.Tensor(arr, inds, tags={"ENT", f"Q{q1}", f"Q{q2}"}))
            wire[q1], wire[q2] = new1, new2
    tn = qtensor.TensorNetwork(tensors)
    tn.reindex_({wire[q]: out_id.format(q) for q in range(n)})
    return tn


def quimb_circuit(spec: CircuitSpec, angles, n: int) -> qtensor.Circuit:
    """The same circuit built from quimb's own gate library (an independent reference)."""
    angles = np.asarray(angles)
    circ = qtensor.Circuit(n)
    for op in spec.ops(n):
        if op[0] == "rot":
            _, layer, q = op
            if spec.ansatz == "hea":
                circ.apply_gate("RY", float(angles[layer, q]), q)
            else:
                ax, ay, az = (float(a) for a in angles[layer, q])
                circ.apply_gate("RX", ax, q)
                circ.apply_gate("RY", ay, q)
                circ.apply_gate("RZ", az, q)
        else:
            circ.apply_gate(spec.entangler.upper(), op[1], op[2])
    return circ
