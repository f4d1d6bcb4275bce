"""The static description of a hybrid MPO / circuit network (hashable; a jit-static value).

A network has N sites. Site k holds either a classical core ``params[f"core{k}"]``:
(a_{k-1}, i_k, j_k, a_k) or a circuit ``params[f"angles{k}"]``: ``spec.angle_shape(n)``.
With ``readout="unitary"`` the circuit's unitary U (2^n x 2^n, qubit 0 most significant)
*is* the core, grouped as ``G[(a_{k-1}, i_k), (j_k, a_k)] = U[(j_k, a_k), (a_{k-1}, i_k)]``:
the input-side legs are the circuit's input qubits, the output-side legs its output qubits
(n = log2(a_{k-1} i_k) = log2(j_k a_k)). With a measured readout (``"probs"``/``"expval"``)
the core's 2^n entries, flattened row-major over (a_{k-1}, i_k, j_k, a_k), are the readout of
an n-qubit circuit, n = log2 of the whole core (:mod:`qtn.tn.readout`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qtn.tn.ansatz import CircuitSpec
from qtn.tn.factorize import is_power_of_two


@dataclass(frozen=True)
class Skeleton:
    """Static structure: leg sizes per site and which sites are circuits (sorted by site)."""

    in_dims: tuple[int, ...]
    out_dims: tuple[int, ...]
    bond_dims: tuple[int, ...]
    circuits: tuple[tuple[int, CircuitSpec], ...] = ()

    def __post_init__(self):
        n = len(self.in_dims)
        if n < 1 or len(self.out_dims) != n:
            raise ValueError(
                f"in_dims {self.in_dims} and out_dims {self.out_dims} need the same length >= 1"
            )
        if any(d < 1 for d in self.in_dims + self.out_dims):
            raise ValueError(f"leg sizes must be >= 1, got {self.in_dims} x {self.out_dims}")
        if len(self.bond_dims) != n - 1:
            raise ValueError(f"need {n - 1} bond dims for {n} sites, got {self.bond_dims}")
        for b in self.bond_dims:
            if b < 1:
                raise ValueError(f"bond dimension must be >= 1, got {b}")
        for k, spec in self.circuits:
            if not 0 <= k < n:
                raise ValueError(f"circuit site {k} out of range for {n} sites (0..{n - 1})")
            l, i, j, r = self.core_shape(k)
            for leg, size in ((f"a{k}", l), (f"i{k}", i), (f"j{k}", j), (f"a{k + 1}", r)):
                if not is_power_of_two(size):
                    raise ValueError(
                        f"site {k}: leg {leg} has size {size}, not a power of two; "
                        "a circuit core needs power-of-two legs"
                    )
            n_in, n_out = round(math.log2(l * i)), round(math.log2(j * r))
            if not spec.measured and n_in != n_out:
                raise ValueError(
                    f"site {k}: core {self.core_shape(k)} groups into {l * i} inputs x "
                    f"{j * r} outputs; a unitary circuit core needs them equal "
                    "(or use a measured readout: 'probs' / 'expval')"
                )
            n = n_in + n_out if spec.measured else n_in
            if spec.qubits is not None and spec.qubits != n:
                raise ValueError(
                    f"site {k}: circuit asks for {spec.qubits} qubits but the core's legs "
                    f"give {n} (readout {spec.readout!r})"
                )
        sites = [k for k, _ in self.circuits]
        if sites != sorted(set(sites)):
            raise ValueError(f"circuit sites must be unique and sorted, got {sites}")

    @property
    def n_sites(self) -> int:
        return len(self.in_dims)

    @property
    def d_in(self) -> int:
        return math.prod(self.in_dims)

    @property
    def d_out(self) -> int:
        return math.prod(self.out_dims)

    @property
    def is_complex(self) -> bool:
        return any(spec.is_complex for _, spec in self.circuits)

    def core_shape(self, k: int) -> tuple[int, int, int, int]:
        """(a_{k-1}, i_k, j_k, a_k), boundary bonds 1."""
        bonds = (1, *self.bond_dims, 1)
        return (bonds[k], self.in_dims[k], self.out_dims[k], bonds[k + 1])

    def circuit_at(self, k: int) -> CircuitSpec | None:
        return dict(self.circuits).get(k)

    def n_qubits(self, k: int) -> int:
        """Qubits of site k's circuit: log2 of one side (unitary) or of the core (measured)."""
        l, i, j, r = self.core_shape(k)
        spec = self.circuit_at(k)
        return round(math.log2(l * i * j * r if spec is not None and spec.measured else l * i))

    def core_std(self, k: int) -> float:
        """Initial std of site k's classical core, 1 / sqrt(a_{k-1} d_in^{1/N}): a fully
        classical network then has Var(W_ij) = 1 / d_in (also the scale of measured readouts)."""
        return (self.core_shape(k)[0] * self.d_in ** (1 / self.n_sites)) ** -0.5

    def param_name(self, k: int) -> str:
        return f"angles{k}" if self.circuit_at(k) is not None else f"core{k}"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """name -> shape of every array in ``params``, site order."""
        out = {}
        for k in range(self.n_sites):
            spec = self.circuit_at(k)
            shape = self.core_shape(k) if spec is None else spec.angle_shape(self.n_qubits(k))
            out[self.param_name(k)] = tuple(shape)
        return out

    def num_params(self) -> int:
        return sum(math.prod(s) for s in self.param_shapes().values())


def hybrid_skeleton(
    in_dims: Sequence[int],
    out_dims: Sequence[int],
    bond: int | Sequence[int],
    circuits: Mapping[int, CircuitSpec] | None = None,
) -> Skeleton:
    """Build and validate a Skeleton. ``bond``: one int for every bond, or N - 1 ints."""
    in_dims, out_dims = tuple(int(d) for d in in_dims), tuple(int(d) for d in out_dims)
    if isinstance(bond, int):
        if bond < 1:
            raise ValueError(f"bond dimension must be >= 1, got {bond}")
        bonds = (bond,) * max(len(in_dims) - 1, 0)
    else:
        bonds = tuple(int(b) for b in bond)
    specs = tuple(sorted((int(k), s) for k, s in (circuits or {}).items()))
    return Skeleton(in_dims, out_dims, bonds, specs)
