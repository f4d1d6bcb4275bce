"""The ``mpo`` method (classical MPO adapter): config dataclass, dims resolution, factory.

YAML ``adapter:`` block (defaults shown)::

    method: mpo
    target_modules: [q_proj, v_proj]
    num_cores: 3        # MPO sites; in/out dims factorized with qtn.tn.factorize
    in_dims: null       # or explicit factors, e.g. [9, 8, 8] (product = in_features)
    out_dims: null
    bond: 8             # every interior bond
    mode: delta         # delta: W0 + alpha·T (T = 0 at init) | reparam: (W0 - T0) + T
    train: all          # all | cores | circuits | [site, ...]
    alpha: 1.0          # delta-mode scale of T
    strategy: auto      # qtn.contract strategy for the plan
    forward: auto       # auto | fold (x @ (W0 + ΔW)) | contract (x @ W0 + plan.apply(x))
    bond_pattern: {v_proj: 4}   # per-module override of bond

:class:`qtn.adapters.circuit_mpo.CircuitMPOConfig` extends this with circuit sites.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from flax import nnx

from qtn.contract import STRATEGIES
from qtn.nn.hybrid_linear import FORWARDS, MODES, TRAIN_CHOICES, trainable_sites
from qtn.nn.linear import Linear
from qtn.nn.mpo_linear import MPOLinear
from qtn.tn import CircuitSpec, Skeleton, factorize, hybrid_skeleton, is_power_of_two


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class MPOConfig:
    """MPO adapter options (see the module docstring for the YAML form)."""

    num_cores: int = 3
    in_dims: tuple[int, ...] | None = None
    out_dims: tuple[int, ...] | None = None
    bond: int = 8
    mode: str = "delta"
    train: str | tuple[int, ...] = "all"
    alpha: float = 1.0
    strategy: str = "auto"
    forward: str = "auto"

    method: ClassVar[str] = "mpo"
    patterns: ClassVar[Mapping[str, str]] = MappingProxyType({"bond_pattern": "bond"})

    def __post_init__(self) -> None:
        m = self.method
        for name in ("in_dims", "out_dims"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, list | tuple) or not all(
                    _int(v) and v >= 1 for v in value
                ):
                    raise ValueError(f"{m}: {name} must be a list of integers >= 1, got {value!r}")
                object.__setattr__(self, name, tuple(value))
        if not isinstance(self.train, str):
            if not isinstance(self.train, list | tuple) or not all(_int(v) for v in self.train):
                raise ValueError(
                    f"{m}: train must be one of {TRAIN_CHOICES} or a list of site "
                    f"indices, got {self.train!r}"
                )
            object.__setattr__(self, "train", tuple(self.train))
        elif self.train not in TRAIN_CHOICES:
            raise ValueError(
                f"{m}: train must be one of {TRAIN_CHOICES} or a list of site "
                f"indices, got {self.train!r}"
            )
        if not _int(self.num_cores) or self.num_cores < 1:
            raise ValueError(f"{m}: num_cores must be an integer >= 1, got {self.num_cores!r}")
        for name in ("in_dims", "out_dims"):
            value = getattr(self, name)
            if value is not None and len(value) != self.num_cores:
                raise ValueError(
                    f"{m}: {name} {list(value)} has {len(value)} factors but "
                    f"num_cores is {self.num_cores}"
                )
        if isinstance(self.train, tuple):
            bad = [k for k in self.train if not 0 <= k < self.num_cores]
            if bad or not self.train:
                raise ValueError(
                    f"{m}: train sites {list(self.train)} must be a non-empty list "
                    f"of sites in 0..{self.num_cores - 1}"
                )
        if not _int(self.bond) or self.bond < 1:
            raise ValueError(f"{m}: bond must be an integer >= 1, got {self.bond!r}")
        for name, allowed in (("mode", MODES), ("strategy", STRATEGIES), ("forward", FORWARDS)):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{m}: {name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, int | float):
            raise ValueError(f"{m}: alpha must be a number, got {self.alpha!r}")
        if self.method == "mpo" and self.train == "circuits":
            raise ValueError(f"{m}: train='circuits' but an MPO adapter has no circuit sites")
        if self.mode == "delta" and self.train == "circuits":
            raise ValueError(
                f"{m}: train='circuits' in delta mode would leave T = 0 forever "
                "(its zero core must train); use mode='reparam' or train='all'"
            )

    def circuits(self) -> dict[int, CircuitSpec]:
        """Circuit sites -> spec (none for a plain MPO)."""
        return {}

    def skeleton(self, in_features: int, out_features: int) -> Skeleton:
        """The network for one (in, out) layer (dims resolved as :func:`resolve_dims`)."""
        circuits = self.circuits()
        in_dims, out_dims = resolve_dims(
            in_features,
            out_features,
            self.num_cores,
            self.bond,
            circuits,
            self.in_dims,
            self.out_dims,
        )
        return hybrid_skeleton(in_dims, out_dims, self.bond, circuits)

    def trainable_params(self, in_features: int, out_features: int) -> int:
        """Exact trainable count of one adapted (in, out) layer."""
        skel = self.skeleton(in_features, out_features)
        shapes = list(skel.param_shapes().values())
        return sum(math.prod(shapes[k]) for k in trainable_sites(skel, self.train))

    def layer_kwargs(self) -> dict[str, Any]:
        return dict(
            mode=self.mode,
            train=self.train,
            alpha=self.alpha,
            strategy=self.strategy,
            forward=self.forward,
        )


def resolve_dims(
    d_in: int,
    d_out: int,
    num_cores: int,
    bond: int,
    circuits: Mapping[int, CircuitSpec],
    in_dims: tuple[int, ...] | None = None,
    out_dims: tuple[int, ...] | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """In/out leg factors for a (d_in, d_out) layer. Given factors are checked; missing ones are
    ``qtn.tn.factorize``'s balanced choice if that makes every circuit site valid (power-of-two
    legs, as many inputs as outputs), else the most balanced ordered factorization that does.
    Raises ValueError naming the layer size, site, leg and size when none exists."""
    fixed_in = factorize(d_in, num_cores, in_dims) if in_dims is not None else None
    fixed_out = factorize(d_out, num_cores, out_dims) if out_dims is not None else None
    first_in = fixed_in or factorize(d_in, num_cores)
    first_out = fixed_out or factorize(d_out, num_cores)
    error = _circuit_error(first_in, first_out, bond, circuits)
    if error is None:
        return first_in, first_out
    if fixed_in is None or fixed_out is None:
        ins = [fixed_in] if fixed_in else _ordered_factorizations(d_in, num_cores)
        outs = [fixed_out] if fixed_out else _ordered_factorizations(d_out, num_cores)
        for pair in sorted(itertools.product(ins, outs), key=_balance):
            if _circuit_error(*pair, bond, circuits) is None:
                return pair
    hint = (
        "set other in_dims / out_dims / bond"
        if fixed_in is not None and fixed_out is not None
        else f"no factorization into {num_cores} cores fixes it; set in_dims / out_dims / bond"
    )
    raise ValueError(
        f"layer {d_in}x{d_out}, in_dims {first_in}, out_dims {first_out}, bond {bond}: "
        f"{error} ({hint}, or other circuit_sites)"
    )


def _circuit_error(in_dims, out_dims, bond, circuits) -> str | None:
    if not circuits:
        return None
    if not is_power_of_two(bond):
        return f"bond {bond} is not a power of two (a circuit core's bond legs must be)"
    try:
        hybrid_skeleton(in_dims, out_dims, bond, circuits)
    except ValueError as err:
        return str(err)
    return None


def _ordered_factorizations(d: int, n: int) -> list[tuple[int, ...]]:
    if n == 1:
        return [(d,)] if d >= 2 else []
    out = []
    for f in range(2, d + 1):
        if d % f == 0:
            out.extend((f, *rest) for rest in _ordered_factorizations(d // f, n - 1))
    return out


def _balance(pair: tuple[tuple[int, ...], tuple[int, ...]]) -> tuple:
    """Smaller largest factor, then fewer non-power-of-two factors, then odd factors first."""
    dims = pair[0] + pair[1]
    late_odd = sum(
        1
        for fs in pair
        for a, b in itertools.pairwise(fs)
        if is_power_of_two(a) and not is_power_of_two(b)
    )
    return (max(dims), sum(not is_power_of_two(f) for f in dims), late_odd, pair)


def make_mpo(base: Linear, cfg: MPOConfig, rngs: nnx.Rngs) -> MPOLinear:
    """Wrap ``base`` in an :class:`MPOLinear` configured by ``cfg``."""
    skel = cfg.skeleton(base.in_features, base.out_features)
    return MPOLinear(base, skeleton=skel, **cfg.layer_kwargs(), rngs=rngs)
