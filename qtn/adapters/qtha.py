"""The ``qtha`` method: the paper's QTHA as its authors built it (arXiv 2503.12790; code
``Quantum-enhanced-LLM/QLLM-peft``, ``qpeft_arch``), layer :class:`qtn.nn.paper_qtha.QTHALinear`:
``y = x W0 + (alpha / r) · MPO_B(MLP_B(QW(QNN(h)) + CW(h)))``, ``h = MLP_A(MPO_A(x))``.

YAML ``adapter:`` block (defaults shown)::

    method: qtha
    target_modules: [q_proj, v_proj]
    r: 8                 # QNN qubits = MLP width (2 <= r <= 16: a token's state has 2^r amplitudes)
    alpha: null          # null = 2 r (the authors' default); the scale is alpha / r
    arch: ABC            # ABC | AB | BC | A | B | C (the authors' ablations; AB = no quantum)
    bottleneck: 256      # MPO_A's output = MPO_B's input (archs with A); factorised into
                         #   mpo_cores factors >= 2 (256 = 4·4·4·4)
    mpo_cores: 4         # cores of MPO_A and of MPO_B
    mpo_ranks: [1, 8, 8, 8, 1]   # TT ranks, mpo_cores + 1 entries, 1 at both ends; or one int
                                 #   for every interior bond
    qnn_layers: null     # null = r; each layer: RY(h_i) re-upload, CRZ ring, RY, CRZ reverse
                         #   ring, RY (4 r trainable angles)
    rank_pattern: {v_proj: 4}    # per-module overrides of r / alpha / qnn_layers / bottleneck
    alpha_pattern: {v_proj: 8}
    layers_pattern: {v_proj: 2}
    bottleneck_pattern: {v_proj: 64}

``d_in``, ``bottleneck`` and ``d_out`` are each split into ``mpo_cores`` factors by
:func:`qtn.tn.factorize` (balanced, odd factors first: 3584 -> 7·8·8·8, 576 -> 6·6·4·4, 192 ->
3·4·4·4); on the authors' factor table this gives the same parameter counts as theirs (only
the end factors matter with end ranks 1, and they pair the same way). The bottleneck must suit
the layer: a layer size that cannot be split into ``mpo_cores`` factors >= 2 is refused when
the adapter is built (naming the module). 256 is the authors' choice for 3584-wide models; on
SmolLM2 (576 wide, v_proj 192 out) 256 is wider than v_proj's output — 64 = 4·4·4 with
``mpo_cores: 3`` keeps it a bottleneck on every target (see experiments/paper_qtha).

Options of the weight-space hybrid (``bond``, ``depth``, ``circuit_sites``, ``readout``...,
qtn's ``qtha`` before the rename) are refused with an error naming ``circuit_mpo``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from flax import nnx

from qtn.adapters.circuit_mpo import CircuitMPOConfig
from qtn.adapters.mpo import _int
from qtn.nn.linear import Linear
from qtn.nn.paper_qtha import ARCHS, QTHALinear, arch_parts, merge_refusal
from qtn.quantum.circuit import qnn_circuit
from qtn.tn import Skeleton, factorize, hybrid_skeleton

MAX_QNN_QUBITS = 16


@dataclass(frozen=True)
class QTHAConfig:
    """The paper's QTHA options (see the module docstring for the YAML form)."""

    r: int = 8
    alpha: float | None = None
    arch: str = "ABC"
    bottleneck: int = 256
    mpo_cores: int = 4
    mpo_ranks: tuple[int, ...] | int = (1, 8, 8, 8, 1)
    qnn_layers: int | None = None

    method: ClassVar[str] = "qtha"
    patterns: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "rank_pattern": "r",
            "alpha_pattern": "alpha",
            "layers_pattern": "qnn_layers",
            "bottleneck_pattern": "bottleneck",
        }
    )

    def __post_init__(self) -> None:
        m = self.method
        if self.arch not in ARCHS:
            raise ValueError(f"{m}: arch must be one of {ARCHS}, got {self.arch!r}")
        if not _int(self.r) or self.r < 2:
            raise ValueError(
                f"{m}: r must be an integer >= 2 (the QNN's qubits on a CRZ ring; MLP width), "
                f"got {self.r!r}"
            )
        if "qnn" in self.parts and self.r > MAX_QNN_QUBITS:
            raise ValueError(
                f"{m}: r={self.r} qubits per token is 2^{self.r} amplitudes per token; at most "
                f"{MAX_QNN_QUBITS}"
            )
        if self.alpha is not None and (
            isinstance(self.alpha, bool) or not isinstance(self.alpha, int | float)
        ):
            raise ValueError(f"{m}: alpha must be a number or null (= 2 r), got {self.alpha!r}")
        if self.qnn_layers is not None and (not _int(self.qnn_layers) or self.qnn_layers < 1):
            raise ValueError(
                f"{m}: qnn_layers must be an integer >= 1 or null (= r), got {self.qnn_layers!r}"
            )
        if not _int(self.mpo_cores) or self.mpo_cores < 1:
            raise ValueError(f"{m}: mpo_cores must be an integer >= 1, got {self.mpo_cores!r}")
        object.__setattr__(self, "mpo_ranks", self._ranks())
        if not _int(self.bottleneck) or self.bottleneck < 1:
            raise ValueError(f"{m}: bottleneck must be an integer >= 1, got {self.bottleneck!r}")
        if "mpo" in self.parts:
            try:
                factorize(self.bottleneck, self.mpo_cores)
            except ValueError:
                raise ValueError(
                    f"{m}: bottleneck {self.bottleneck} cannot be split into mpo_cores="
                    f"{self.mpo_cores} factors >= 2 (e.g. 256 = 4·4·4·4, 64 = 4·4·4)"
                ) from None

    def _ranks(self) -> tuple[int, ...]:
        m, ranks, n = self.method, self.mpo_ranks, self.mpo_cores
        if _int(ranks):
            if ranks < 1:
                raise ValueError(f"{m}: mpo_ranks must be >= 1, got {ranks!r}")
            return (1, *([ranks] * (n - 1)), 1)
        if not isinstance(ranks, list | tuple) or not all(_int(v) and v >= 1 for v in ranks):
            raise ValueError(
                f"{m}: mpo_ranks must be a list of integers >= 1 (or one int), got {ranks!r}"
            )
        ranks = tuple(ranks)
        if "mpo" in self.parts and (len(ranks) != n + 1 or ranks[0] != 1 or ranks[-1] != 1):
            raise ValueError(
                f"{m}: mpo_ranks {list(ranks)} must have mpo_cores + 1 = {n + 1} entries "
                f"with 1 at both ends, e.g. {[1, *([8] * (n - 1)), 1]}"
            )
        return ranks

    @classmethod
    def unknown_option_hint(cls, unknown: Sequence[str]) -> str:
        """Extra text for unknown options that belong to the renamed weight-space method."""
        own = {f.name for f in dataclasses.fields(cls)}
        weight_space = {f.name for f in dataclasses.fields(CircuitMPOConfig)} | set(
            CircuitMPOConfig.patterns
        )
        old = sorted(set(unknown) & (weight_space - own))
        if not old:
            return ""
        return (
            f"; {old} are options of qtn's weight-space hybrid (an MPO of the weight with "
            "circuit cores), which was called 'qtha' and is now method 'circuit_mpo': write "
            "'method: circuit_mpo' to keep it. 'qtha' is now the paper's architecture "
            "(options r, alpha, arch, bottleneck, mpo_cores, mpo_ranks, qnn_layers)"
        )

    @property
    def parts(self) -> frozenset[str]:
        return arch_parts(self.arch)

    @property
    def resolved_alpha(self) -> float:
        """``alpha``, or the authors' default 2 r."""
        return float(self.alpha) if self.alpha is not None else 2.0 * self.r

    @property
    def layers(self) -> int:
        """QNN layers (``qnn_layers``, default r)."""
        return self.qnn_layers if self.qnn_layers is not None else self.r

    def mpo_skeletons(self, d_in: int, d_out: int) -> tuple[Skeleton, Skeleton] | tuple[None, None]:
        """(MPO_A: d_in -> bottleneck, MPO_B: bottleneck -> d_out), or (None, None) for the
        archs without MPOs. Raises ValueError naming a size that cannot be factorised."""
        if "mpo" not in self.parts:
            return None, None
        n = self.mpo_cores
        dims = {}
        for what, d in (("in_features", d_in), ("out_features", d_out)):
            try:
                dims[what] = factorize(d, n)
            except ValueError:
                raise ValueError(
                    f"{self.method}: {what} {d} cannot be split into mpo_cores={n} factors "
                    ">= 2 for the MPOs (set mpo_cores)"
                ) from None
        mid = factorize(self.bottleneck, n)
        bonds = self.mpo_ranks[1:-1]
        return (
            hybrid_skeleton(dims["in_features"], mid, bonds),
            hybrid_skeleton(mid, dims["out_features"], bonds),
        )

    def trainable_params(self, d_in: int, d_out: int) -> int:
        """Exact trainable count of one adapted (d_in, d_out) layer."""
        parts, r = self.parts, self.r
        mpo_a, mpo_b = self.mpo_skeletons(d_in, d_out)
        total = 0
        if mpo_a is not None:
            total += mpo_a.num_params() + mpo_b.num_params()
        if "mlp" in parts:
            d_a = self.bottleneck if mpo_a is not None else d_in
            d_b = self.bottleneck if mpo_a is not None else d_out
            total += d_a * r + r * d_b
        if "cw" in parts:
            total += r * r
        if "qnn" in parts:
            total += r * r + qnn_circuit(r, self.layers).n_weights
        return total

    def merge_error(self) -> str | None:
        """Why this adapter cannot be merged into W (None for the linear archs A, B, AB)."""
        return merge_refusal(self.arch)

    def layer_kwargs(self) -> dict[str, Any]:
        return dict(
            r=self.r,
            alpha=self.resolved_alpha,
            arch=self.arch,
            qnn_layers=self.layers if "qnn" in self.parts else None,
        )


def make_qtha(base: Linear, cfg: QTHAConfig, rngs: nnx.Rngs) -> QTHALinear:
    """Wrap ``base`` in a :class:`QTHALinear` configured by ``cfg``."""
    mpo_a, mpo_b = cfg.mpo_skeletons(base.in_features, base.out_features)
    return QTHALinear(base, mpo_a=mpo_a, mpo_b=mpo_b, **cfg.layer_kwargs(), rngs=rngs)
