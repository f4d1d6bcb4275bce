"""QTHALinear: the paper's QTHA as its authors built it (arXiv 2503.12790; their code is the
PEFT fork ``Quantum-enhanced-LLM/QLLM-peft``, option ``qpeft_arch``), a side branch on a frozen
linear layer::

    y = x W0 + b + s · Δ(x),   s = alpha / r
    ABC:  h = MLP_A(MPO_A(x))        MPO_A: d_in -> bottleneck, MLP_A: bottleneck -> r
          q = QNN(h)                 one r-qubit circuit per token, <Z_i> of every qubit
          z = QW(q) + CW(h)          two bias-free r x r maps, summed
          Δ = MPO_B(MLP_B(z))        MLP_B: r -> bottleneck, MPO_B: bottleneck -> d_out

The ablations drop parts exactly as the authors' forward does:

    A:   Δ = MPO_B(MPO_A(x))                           (MPOs only, bottleneck between)
    B:   Δ = MLP_B(CW(MLP_A(x)))                       (MLP_A: d_in -> r, MLP_B: r -> d_out)
    AB:  Δ = MPO_B(MLP_B(CW(MLP_A(MPO_A(x)))))         (CW in series: no quantum, no sum)
    BC:  Δ = MLP_B(QW(QNN(h)) + CW(h)), h = MLP_A(x)
    C:   Δ = MLP_B(QW(QNN(h))),         h = MLP_A(x)   (no CW)

Initialisation (the authors'): MPO cores Kaiming-normal (std sqrt(2 / fan_in), fan_in =
a_{k-1}·i_k of core k), **MPO_B's last core zero**; MLP_A / MLP_B / CW / QW bias-free
Kaiming-uniform (PyTorch's ``kaiming_uniform_`` default a=0: U(±sqrt(6 / fan_in))), except
MLP_B zero when there is no MPO_B (B, BC, C); QNN angles U(-pi, pi). So Δ = 0 exactly at step 0.

The MPOs are tensor-train operators applied to the activations by a planned contraction
(:func:`qtn.contract.get_plan`, path found once per token count and cached); they are never
materialised as dense matrices in the forward. The QNN (``qtn.quantum.qnn_circuit``) is
evaluated by the layer's runner (:class:`qtn.nn.quantum.CircuitLayer`: exact by default, or
shots / noise with a hardware gradient rule), one circuit per token. With the QNN the branch is
nonlinear in x: such a layer cannot be merged into W (:meth:`QTHALinear.merge_error`); the
linear ablations (A, B, AB) can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qtn.contract import get_plan
from qtn.nn.adapter import AdapterLayer
from qtn.nn.linear import Linear
from qtn.nn.quantum import CircuitLayer
from qtn.nn.variables import AngleParam, CoreParam
from qtn.quantum.circuit import Circuit, qnn_circuit
from qtn.tn import Skeleton

ARCHS = ("A", "B", "AB", "BC", "C", "ABC")


def arch_parts(arch: str) -> frozenset[str]:
    """The blocks of ``arch``: ``mpo`` (MPO_A, MPO_B), ``mlp`` (MLP_A, MLP_B), ``cw``, ``qnn``
    (the QNN and QW). Raises ValueError naming an unknown arch."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    parts = set()
    if "A" in arch:
        parts.add("mpo")
    if arch != "A":
        parts.add("mlp")
    if "B" in arch:
        parts.add("cw")
    if "C" in arch:
        parts.add("qnn")
    return frozenset(parts)


def merge_refusal(arch: str) -> str | None:
    """Why an adapter of ``arch`` cannot be folded into W (None for the linear archs)."""
    if "qnn" not in arch_parts(arch):
        return None
    return (
        f"qtha arch {arch!r} feeds every token through a QNN (<Z_i> of RY(h_i)-encoded "
        "circuits): the adapter is nonlinear in x, so there is no ΔW to merge or export; "
        "keep it as an adapter (qtn eval / generate --adapter), or use arch A, B or AB"
    )


@dataclass(frozen=True)
class InitSpec:
    """One initial tensor: ``rule`` ``normal`` (N(0, scale^2)), ``uniform`` (U(-scale, scale))
    or ``zeros``; ``angle`` marks circuit angles (an ``AngleParam``)."""

    name: str
    shape: tuple[int, ...]
    rule: str
    scale: float = 0.0
    angle: bool = False


def kaiming_normal_std(fan_in: int) -> float:
    """PyTorch's ``kaiming_normal_`` (a = 0, fan_in mode): sqrt(2 / fan_in)."""
    return math.sqrt(2.0 / fan_in)


def kaiming_uniform_bound(fan_in: int) -> float:
    """PyTorch's ``kaiming_uniform_`` (a = 0, fan_in mode): U(±sqrt(6 / fan_in))."""
    return math.sqrt(6.0 / fan_in)


def draw_initial(specs: list[InitSpec], key: jax.Array, dtype) -> dict[str, jax.Array]:
    """The tensors of ``specs`` from one normal and one uniform draw (two random ops whatever
    the number of tensors: eager JAX compiles every new shape once)."""
    k_normal, k_uniform = jax.random.split(key)
    flat = {}
    for rule, draw in (("normal", jax.random.normal), ("uniform", _unit_uniform)):
        total = sum(math.prod(s.shape) for s in specs if s.rule == rule)
        flat[rule] = np.asarray(draw(k_normal if rule == "normal" else k_uniform, (total,), dtype))
    out, used = {}, {"normal": 0, "uniform": 0}
    for s in specs:
        size = math.prod(s.shape)
        if s.rule == "zeros":
            out[s.name] = jnp.asarray(np.zeros(s.shape), dtype)
            continue
        values = flat[s.rule][used[s.rule] : used[s.rule] + size].reshape(s.shape)
        used[s.rule] += size
        out[s.name] = jnp.asarray(s.scale * values, dtype)
    return out


def _unit_uniform(key: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    return jax.random.uniform(key, shape, dtype, -1.0, 1.0)


class QTHALinear(AdapterLayer, CircuitLayer):
    """``y = base(x) + (alpha / r) · Δ(x)`` with Δ as in the module docstring.

    x: (..., d_in) -> y: (..., d_out). ``mpo_a`` (d_in -> bottleneck) and ``mpo_b``
    (bottleneck -> d_out) are MPO skeletons without circuit sites, given for the archs with
    MPOs (A, AB, ABC) and None otherwise; ``qnn_layers`` is the QNN's layer count (archs with
    C). Trainable: MPO cores, MLP_A, MLP_B, CW, QW as ``CoreParam``, QNN angles
    ``(qnn_layers, 4, r)`` as ``AngleParam`` ([CRZ ring, RY, CRZ reverse ring, RY] per layer).
    """

    def __init__(
        self,
        base: Linear,
        *,
        r: int,
        alpha: float,
        arch: str = "ABC",
        mpo_a: Skeleton | None = None,
        mpo_b: Skeleton | None = None,
        qnn_layers: int | None = None,
        rngs: nnx.Rngs,
    ):
        name = type(self).__name__
        try:
            parts = arch_parts(arch)
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
        if isinstance(r, bool) or not isinstance(r, int) or r < 2:
            raise ValueError(f"{name}: r must be an integer >= 2 (the QNN's qubits), got {r!r}")
        self.base = base
        self._init_quantum()
        self.arch, self.r, self.alpha = arch, int(r), float(alpha)
        self.scale = self.alpha / self.r
        self.param_dtype = jnp.promote_types(base.kernel[...].dtype, jnp.float32)
        self.mpo_a, self.mpo_b = self._check_mpos(parts, mpo_a, mpo_b)
        self.qnn_layers = int(qnn_layers if qnn_layers is not None else r)
        self.circuit: Circuit | None = (
            qnn_circuit(self.r, self.qnn_layers) if "qnn" in parts else None
        )
        self._init_params(rngs)

    def _check_mpos(self, parts, mpo_a, mpo_b) -> tuple[Skeleton | None, Skeleton | None]:
        name = type(self).__name__
        if "mpo" not in parts:
            if mpo_a is not None or mpo_b is not None:
                raise ValueError(f"{name}: arch {self.arch!r} has no MPOs; got MPO skeletons")
            return None, None
        if mpo_a is None or mpo_b is None:
            raise ValueError(f"{name}: arch {self.arch!r} needs both MPO skeletons")
        if mpo_a.circuits or mpo_b.circuits:
            raise ValueError(f"{name}: MPO_A / MPO_B are classical (no circuit sites)")
        if (mpo_a.d_in, mpo_b.d_out) != (self.in_features, self.out_features):
            raise ValueError(
                f"{name}: MPOs map {mpo_a.d_in} -> ... -> {mpo_b.d_out} but the layer is "
                f"{self.in_features}x{self.out_features}"
            )
        if mpo_a.d_out != mpo_b.d_in:
            raise ValueError(
                f"{name}: MPO_A's output ({mpo_a.d_out}) must be MPO_B's input ({mpo_b.d_in})"
            )
        return mpo_a, mpo_b

    def _init_params(self, rngs: nnx.Rngs) -> None:
        specs = self.init_specs()
        values = draw_initial(specs, rngs.params(), self.param_dtype)
        for spec in specs:
            kind = AngleParam if spec.angle else CoreParam
            setattr(self, spec.name, kind(values[spec.name]))

    def init_specs(self) -> list[InitSpec]:
        """The trainable tensors and their initialisation (the authors'; module docstring)."""
        parts, r, specs = self.parts, self.r, []
        if "mpo" in parts:
            for which, skel in (("a", self.mpo_a), ("b", self.mpo_b)):
                for k in range(skel.n_sites):
                    a, i, j, b = skel.core_shape(k)
                    zero = which == "b" and k == skel.n_sites - 1
                    rule = "zeros" if zero else "normal"
                    specs.append(InitSpec(f"mpo_{which}{k}", (a, i, j, b), rule,
                                          kaiming_normal_std(a * i)))
        if "mlp" not in parts:
            return specs
        d_a = self.bottleneck if "mpo" in parts else self.in_features
        d_b = self.bottleneck if "mpo" in parts else self.out_features
        specs.append(InitSpec("mlp_a", (d_a, r), "uniform", kaiming_uniform_bound(d_a)))
        # Δ = 0 at init through MLP_B when there is no MPO_B to start at zero
        rule_b = "uniform" if "mpo" in parts else "zeros"
        specs.append(InitSpec("mlp_b", (r, d_b), rule_b, kaiming_uniform_bound(r)))
        if "cw" in parts:
            specs.append(InitSpec("cw", (r, r), "uniform", kaiming_uniform_bound(r)))
        if "qnn" in parts:
            specs.append(InitSpec("qw", (r, r), "uniform", kaiming_uniform_bound(r)))
            shape = (self.qnn_layers, 4, r)
            specs.append(InitSpec("qnn_angles", shape, "uniform", np.pi, angle=True))
        return specs

    @property
    def bottleneck(self) -> int | None:
        """MPO_A's output size (None without MPOs)."""
        return None if self.mpo_a is None else self.mpo_a.d_out

    @property
    def parts(self) -> frozenset[str]:
        return arch_parts(self.arch)

    def circuits(self) -> list[tuple[str, Circuit, int]]:
        """The per-token QNN (one circuit per token), if the arch has one."""
        if self.circuit is None:
            return []
        return [(f"qnn ({self.r} qubits, {self.qnn_layers} layers, per token)", self.circuit, 1)]

    def circuit_weights(self) -> dict[str, jax.Array]:
        """The QNN's trained angles flattened as its circuit's weights, keyed by the label of
        :meth:`circuits` (empty without a QNN)."""
        return {label: self.qnn_angles[...].reshape(-1) for label, _, _ in self.circuits()}

    def circuit_observables(self) -> dict[str, str]:
        """The QNN is read out as ``<Z_i>`` of every qubit (``z``), not as probabilities."""
        return {label: "z" for label, _, _ in self.circuits()}

    def mpo_cores(self, which: str) -> dict[str, jax.Array]:
        """``{"core{k}": array}`` of MPO ``"a"`` or ``"b"`` (the plan's params)."""
        skel = self.mpo_a if which == "a" else self.mpo_b
        return {f"core{k}": getattr(self, f"mpo_{which}{k}")[...] for k in range(skel.n_sites)}

    def apply_mpo(self, which: str, v: jax.Array) -> jax.Array:
        """MPO ``"a"`` or ``"b"`` applied to ``v: (tokens, d)`` by its contraction plan."""
        skel = self.mpo_a if which == "a" else self.mpo_b
        plan = get_plan(skel, v.shape[0], self.param_dtype)
        return plan.apply(self.mpo_cores(which), v)

    def hidden(self, x2: jax.Array) -> jax.Array:
        """``h``: (tokens, r) = MLP_A(MPO_A(x)) (MLP_A(x) without MPOs); for arch A, MPO_A(x):
        (tokens, bottleneck). ``x2``: (tokens, d_in) in the adapter's dtype."""
        a = self.apply_mpo("a", x2) if self.mpo_a is not None else x2
        return a if self.arch == "A" else a @ self.mlp_a[...]

    def qnn(self, h: jax.Array) -> jax.Array:
        """``q``: <Z_i> of the QNN with encoding angles ``h: (tokens, r)`` -> (tokens, r),
        evaluated by the layer's runner (its executor and gradient rule)."""
        if self.circuit is None:
            raise ValueError(f"arch {self.arch!r} has no QNN")
        weights = self.qnn_angles[...].reshape(-1)
        # the exact simulator's backward is the adjoint method (qtn.quantum.statevector): it
        # keeps the final state only, not one per gate block, so no rematerialisation is needed
        out = self.runner.estimate(self.circuit, weights, h, measure="z", key=self.shot_key())
        return out.astype(self.param_dtype)

    def branch(self, x2: jax.Array) -> jax.Array:
        """Δ(x) without the scale: (tokens, d_in) -> (tokens, d_out), adapter dtype. Its parts
        run under named scopes (``qtha_in``, ``qtha_qnn``, ``qtha_out``) that profiles group by."""
        with jax.named_scope("qtha_in"):
            h = self.hidden(x2)
        if self.arch == "A":
            with jax.named_scope("qtha_out"):
                return self.apply_mpo("b", h)
        parts = self.parts
        if "qnn" in parts:
            with jax.named_scope("qtha_qnn"):
                q = self.qnn(h)
        with jax.named_scope("qtha_out"):
            if "qnn" in parts:
                z = q @ self.qw[...]
                if "cw" in parts:
                    z = z + h @ self.cw[...]
            else:
                z = h @ self.cw[...]
            u = z @ self.mlp_b[...]
            return self.apply_mpo("b", u) if self.mpo_b is not None else u

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.base(x)
        lead = x.shape[:-1]
        tokens = math.prod(lead)
        if tokens == 0:
            return y
        x2 = x.reshape(tokens, self.in_features).astype(self.param_dtype)
        delta = self.scale * self.branch(x2)
        return y + delta.reshape(*lead, self.out_features).astype(y.dtype)

    def merge_error(self) -> str | None:
        """Why this layer cannot be folded into W (None for the linear archs A, B, AB)."""
        return merge_refusal(self.arch)

    def delta_weight(self) -> jax.Array:
        """``ΔW = s · Δ(I)``: (d_in, d_out), for the linear archs (A, B, AB); raises
        ValueError for archs with the QNN (:meth:`merge_error`)."""
        reason = self.merge_error()
        if reason is not None:
            raise ValueError(reason)
        eye = jnp.eye(self.in_features, dtype=self.param_dtype)
        return self.scale * self.branch(eye)
