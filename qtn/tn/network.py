"""Index-level views of a hybrid network (what the contraction planner sees).

Two levels:

- ``"qubit"``: every unitary circuit site is its gate tensors; legs touching one are split
  into size-2 qubit indices (``"i1.0", "i1.1", ...``, most significant first) and the
  neighbouring cores / x / y are reshaped to match. Nothing is densified. A site with a
  measured readout (``probs`` / ``expval``) stays one tensor (kind ``"site"``): its core is a
  nonlinear function of the amplitudes, computed first from :func:`circuit_network`.
- ``"site"``: one tensor per site (a circuit site is its contracted core, kind ``"site"``).

Index names: batch ``"n"``, input legs ``"i{k}"``, output legs ``"j{k}"``, bonds ``"a{k}"``
(between sites k-1 and k). Size-1 legs (boundary bonds) are squeezed away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qtn.tn.skeleton import Skeleton


@dataclass(frozen=True)
class TensorRef:
    """One tensor of a view. kind: "x" | "core" | "site" | "rot" | "ent" | "zero"; for "rot"
    ``key = (layer, qubit)``, for "ent" ``key = (entangler, rot_a, rot_b)`` (rotations
    absorbed on each input side, or None); "zero" is the |0> input of a measured circuit."""

    kind: str
    site: int  # -1 for x
    inds: tuple[str, ...]
    shape: tuple[int, ...]
    key: tuple = ()


@dataclass(frozen=True)
class Network:
    """tensors + output indices; ``size_dict`` as sorted (index, size) pairs (hashable)."""

    tensors: tuple[TensorRef, ...]
    output: tuple[str, ...]
    sizes: tuple[tuple[str, int], ...]

    @property
    def inputs(self) -> tuple[tuple[str, ...], ...]:
        return tuple(t.inds for t in self.tensors)

    @property
    def size_dict(self) -> dict[str, int]:
        return dict(self.sizes)

    @property
    def output_shape(self) -> tuple[int, ...]:
        sizes = self.size_dict
        return tuple(sizes[i] for i in self.output)


def _leg(name: str, size: int, split: bool) -> tuple[tuple[str, ...], tuple[int, ...]]:
    if size == 1:
        return (), ()
    if split:
        m = round(math.log2(size))
        return tuple(f"{name}.{t}" for t in range(m)), (2,) * m
    return (name,), (size,)


def _gate_sites(skel: Skeleton) -> set[int]:
    """Sites whose gates join the layer network at qubit level (unitary readout)."""
    return {k for k, spec in skel.circuits if not spec.measured}


def site_legs(skel: Skeleton, k: int, level: str):
    """Index names and sizes of site k's four legs (left, in, out, right) in a view."""
    circ = _gate_sites(skel) if level == "qubit" else set()
    return _legs(skel, k, lambda leg: leg in circ)


def _own_qubit_legs(skel: Skeleton, k: int):
    """Site k's legs all split into qubits (its circuit's wires), neighbours aside."""
    return _legs(skel, k, lambda leg: leg == k)


def _legs(skel: Skeleton, k: int, split):
    """Site k's legs; ``split(site)`` says whether legs touching that site are split."""
    l, i, j, r = skel.core_shape(k)
    return (
        _leg(f"a{k}", l, split(k) or split(k - 1)),
        _leg(f"i{k}", i, split(k)),
        _leg(f"j{k}", j, split(k)),
        _leg(f"a{k + 1}", r, split(k) or split(k + 1)),
    )


def _flat(legs) -> tuple[tuple[str, ...], tuple[int, ...]]:
    inds = tuple(x for names, _ in legs for x in names)
    shape = tuple(x for _, sizes in legs for x in sizes)
    return inds, shape


def _gate_tensors(skel: Skeleton, k: int) -> list[TensorRef]:
    """The gates of circuit site k with wires joined to the site's split legs: unitary readout,
    input wires = (left, in) legs and output wires = (out, right) legs; measured readout, input
    wires = |0> tensors (kind "zero") and output wires = all four legs (the amplitudes).

    Each rotation is absorbed into the next entangler on its qubit (kind "ent", key
    ``(entangler, rot_a, rot_b)``, rot = (layer, qubit) or None): same circuit, half the tensors,
    so the planner searches less and XLA compiles fewer ops. Rotations with no entangler after
    them stay standalone (kind "rot", key (layer, qubit))."""
    spec = skel.circuit_at(k)
    left, inn, out, right = _own_qubit_legs(skel, k)
    if spec.measured:
        out_sub = left[0] + inn[0] + out[0] + right[0]
        in_sub = tuple(f"s{k}z{q}" for q in range(len(out_sub)))
    else:
        in_sub, out_sub = left[0] + inn[0], out[0] + right[0]
    n = len(in_sub)
    wire = list(in_sub)
    raw: list[tuple[str, tuple[str, ...], tuple]] = []
    if spec.measured:
        raw.extend(("zero", (w,), (q,)) for q, w in enumerate(in_sub))
    pending: dict[int, tuple[int, int]] = {}

    def emit(kind: str, qs: tuple[int, ...], key: tuple) -> None:
        new = tuple(f"s{k}g{len(raw)}q{q}" for q in qs)
        olds = tuple(wire[q] for q in qs)
        for q, idx in zip(qs, new, strict=True):
            wire[q] = idx
        raw.append((kind, new + olds, key))

    for op in spec.ops(n):
        if op[0] == "rot":
            q = op[2]
            if q in pending:
                emit("rot", (q,), pending.pop(q))
            pending[q] = (op[1], q)
        else:
            q1, q2 = op[1], op[2]
            emit("ent", (q1, q2), (spec.entangler, pending.pop(q1, None), pending.pop(q2, None)))
    for q, key in sorted(pending.items()):
        emit("rot", (q,), key)
    last = {wire[q]: out_sub[q] for q in range(n)}
    return [
        TensorRef(kind, k, tuple(last.get(x, x) for x in inds), (2,) * len(inds), key)
        for kind, inds, key in raw
    ]


def _site_tensors(skel: Skeleton, k: int, level: str) -> list[TensorRef]:
    if level == "qubit" and k in _gate_sites(skel):
        return _gate_tensors(skel, k)
    inds, shape = _flat(site_legs(skel, k, level))
    kind = "core" if skel.circuit_at(k) is None else "site"
    return [TensorRef(kind, k, inds, shape)]


def _make(tensors: list[TensorRef], output: tuple[str, ...]) -> Network:
    sizes = {i: d for t in tensors for i, d in zip(t.inds, t.shape, strict=True)}
    return Network(tuple(tensors), output, tuple(sorted(sizes.items())))


def layer_network(skel: Skeleton, batch: int | None, level: str = "qubit") -> Network:
    """x: (batch, in legs...) contracted with all sites -> (batch, out legs...).
    ``batch=None``: no x; output is (in legs..., out legs...), i.e. W itself."""
    if level not in ("qubit", "site"):
        raise ValueError(f"unknown level {level!r}; choose 'qubit' or 'site'")
    per_site = [site_legs(skel, k, level) for k in range(skel.n_sites)]
    in_inds, in_shape = _flat([legs[1] for legs in per_site])
    out_inds, _ = _flat([legs[2] for legs in per_site])
    tensors = []
    if batch is not None:
        tensors.append(TensorRef("x", -1, ("n", *in_inds), (batch, *in_shape)))
    for k in range(skel.n_sites):
        tensors.extend(_site_tensors(skel, k, level))
    output = ("n", *out_inds) if batch is not None else (*in_inds, *out_inds)
    return _make(tensors, output)


def circuit_network(skel: Skeleton, k: int) -> Network:
    """The gates of circuit site k alone; output = its split legs (left, in, out, right),
    which reshape row-major into the core (a_{k-1}, i_k, j_k, a_k) with size-1 legs squeezed.
    Unitary readout: the output is the core itself; measured readout: the amplitudes of
    U|0>, which :func:`qtn.tn.readout.readout_map` turns into the core."""
    if skel.circuit_at(k) is None:
        raise ValueError(f"site {k} is not a circuit site")
    inds, _ = _flat(_own_qubit_legs(skel, k))
    return _make(_gate_tensors(skel, k), inds)
