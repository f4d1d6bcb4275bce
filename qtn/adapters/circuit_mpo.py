"""The ``circuit_mpo`` method (qtn's weight-space quantum-tensor hybrid): an MPO of the weight
whose ``circuit_sites`` cores are parameterized-circuit networks. Until the rename it was called
``qtha``; that name is now the paper's architecture (:mod:`qtn.adapters.qtha`): the circuits
here do not depend on the data (one evaluation per circuit core per step, whatever the batch).

YAML ``adapter:`` block: every :mod:`qtn.adapters.mpo` option plus (defaults shown)::

    method: circuit_mpo
    circuit_sites: null  # null = the middle site (num_cores // 2), or [site, ...]
    depth: 4             # circuit layers
    ansatz: hea          # hea (RY + entanglers, real) | general (RZ·RY·RX, complex)
    entangler: cz        # cz | cnot
    pattern: chain       # chain | brickwork
    readout: unitary     # unitary (the gates are the core) | probs | expval (measured: the
                         # core is an affine map of |<k|U|0>|^2 on log2(core size) qubits)
    angle_scale: 1.0     # delta mode: initial angles ~ U(-pi, pi) · angle_scale
    depth_pattern: {v_proj: 2}  # per-module override of depth (bond_pattern as for mpo)

A circuit site's legs must be powers of two, with (a_{k-1}·i_k) == (j_k·a_k) for the unitary
readout: on SmolLM2 (576 = 9·8·8, 192 = 6·8·4) with bond 8 the middle core is 64 x 64, a
6-qubit circuit; with ``readout: probs`` the same 4096-entry core is a 12-qubit circuit's
probability distribution (the hardware path: what a QPU estimates with shots).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from flax import nnx

from qtn.adapters.mpo import MPOConfig, _int
from qtn.nn.hybrid_linear import HybridLinear
from qtn.nn.linear import Linear
from qtn.tn import CircuitSpec


@dataclass(frozen=True)
class CircuitMPOConfig(MPOConfig):
    """circuit_mpo options: MPO options + circuit sites and ansatz (see the module docstring)."""

    circuit_sites: tuple[int, ...] | None = None
    depth: int = 4
    ansatz: str = "hea"
    entangler: str = "cz"
    pattern: str = "chain"
    readout: str = "unitary"
    angle_scale: float = 1.0

    method: ClassVar[str] = "circuit_mpo"
    patterns: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"bond_pattern": "bond", "depth_pattern": "depth"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        m = self.method
        if self.circuit_sites is not None:
            sites = self.circuit_sites
            if (
                not isinstance(sites, list | tuple)
                or not sites
                or not all(_int(k) and 0 <= k < self.num_cores for k in sites)
            ):
                raise ValueError(
                    f"{m}: circuit_sites must be a non-empty list of sites in "
                    f"0..{self.num_cores - 1}, got {sites!r}"
                )
            object.__setattr__(self, "circuit_sites", tuple(sorted(set(sites))))
        if not _int(self.depth) or self.depth < 1:
            raise ValueError(f"{m}: depth must be an integer >= 1, got {self.depth!r}")
        if isinstance(self.angle_scale, bool) or not isinstance(self.angle_scale, int | float):
            raise ValueError(f"{m}: angle_scale must be a number, got {self.angle_scale!r}")
        try:
            self.circuit_spec()
        except ValueError as err:
            raise ValueError(f"{m}: {err}") from None

    def sites(self) -> tuple[int, ...]:
        """The circuit sites (default: the middle one)."""
        return self.circuit_sites if self.circuit_sites is not None else (self.num_cores // 2,)

    def circuit_spec(self) -> CircuitSpec:
        return CircuitSpec(self.depth, self.ansatz, self.entangler, self.pattern, self.readout)

    def circuits(self) -> dict[int, CircuitSpec]:
        return dict.fromkeys(self.sites(), self.circuit_spec())

    def layer_kwargs(self) -> dict[str, Any]:
        return {**super().layer_kwargs(), "angle_scale": self.angle_scale}


def make_circuit_mpo(base: Linear, cfg: CircuitMPOConfig, rngs: nnx.Rngs) -> HybridLinear:
    """Wrap ``base`` in a :class:`HybridLinear` configured by ``cfg``."""
    skel = cfg.skeleton(base.in_features, base.out_features)
    return HybridLinear(base, skeleton=skel, **cfg.layer_kwargs(), rngs=rngs)
