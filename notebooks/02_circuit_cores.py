# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Circuit cores: ansätze, replacing an MPO core, gradients
#
# A core `G_k (a_{k-1}, i_k, j_k, a_k)` whose legs are powers of two *is* an operator on
# `n = log2(a_{k-1} i_k)` qubits once the legs are grouped `(a_{k-1} i_k) → (j_k a_k)`. qtn
# replaces such a core by the tensor network of a parameterized circuit: its gates become
# tensors of the layer's network, and the angles are trained like any other JAX array.
#
# This notebook (1) builds the ansätze and checks them against quimb's own gate library,
# (2) replaces a core of a real SmolLM2 weight's MPO by a circuit and fits the angles,
# (3) checks the gradients w.r.t. the angles (autodiff vs finite differences vs the
# amplitude-level shift rule) and through a cotengra-planned contraction.

# %%
import os
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from qtn.contract import get_plan
from qtn.hf import default_model_path
from qtn.hf.safetensors_io import iter_tensors, safetensors_files
from qtn.tn import (
    CircuitSpec,
    apply_fit,
    circuit_core,
    circuit_tn,
    circuit_unitary,
    factorize,
    fit_circuit,
    hybrid_from_mpo,
    hybrid_skeleton,
    init_params,
    quimb_circuit,
    to_dense,
    tt_svd,
)

SMALL = os.environ.get("QTN_NB_SMALL", "0") == "1"
OUT = Path(os.environ.get("QTN_NB_OUT", "../runs/notebooks")) / "02_circuit_cores"
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Ansätze
#
# `CircuitSpec` is frozen and hashable (a jit-static value). `hea` is real (RY + CZ/CNOT: the
# whole network stays real), `general` uses RX·RY·RZ per qubit (complex). Entanglers run as
# a `chain` every layer or as a `brickwork`.

# %%
N_QUBITS = 4
SPECS = {
    "hea / cz / chain": CircuitSpec(3),
    "hea / cnot / brickwork": CircuitSpec(3, entangler="cnot", pattern="brickwork"),
    "general / cz / chain": CircuitSpec(2, ansatz="general"),
}
for name, spec in SPECS.items():
    ops = spec.ops(N_QUBITS)
    n2 = sum(op[0] == "ent" for op in ops)
    print(f"{name:24} depth {spec.depth}  angles {spec.angle_shape(N_QUBITS)}  "
          f"1q gates {len(ops) - n2:2}  2q gates {n2:2}  complex {spec.is_complex}")

# %%
spec = SPECS["hea / cnot / brickwork"]
angles = np.random.default_rng(0).uniform(-np.pi, np.pi, spec.angle_shape(N_QUBITS))
tn = circuit_tn(spec, jnp.asarray(angles), N_QUBITS)
fig = tn.draw(color=["ROT", "ENT"], show_inds=False, figsize=(7, 4), return_fig=True)
fig.savefig(OUT / "circuit_tn.png", dpi=120)
print(tn)

# %% [markdown]
# ### Check against quimb
#
# `circuit_tn` builds the gates from our own JAX gate functions; `quimb_circuit` builds the
# same circuit from quimb's gate library. Their dense unitaries must agree (and be unitary),
# and `circuit_unitary` (gate-by-gate application, no planner) must match both.

# %%
def dense(tn, n):
    return np.asarray(tn.to_dense([f"k{q}" for q in range(n)], [f"b{q}" for q in range(n)]))


for name, spec in SPECS.items():
    a = np.random.default_rng(1).uniform(-np.pi, np.pi, spec.angle_shape(N_QUBITS))
    u_ref = dense(quimb_circuit(spec, a, N_QUBITS).get_uni(), N_QUBITS)
    u_tn = dense(circuit_tn(spec, a, N_QUBITS), N_QUBITS)
    u_gate = np.asarray(circuit_unitary(spec, jnp.asarray(a), N_QUBITS))
    unit = np.abs(u_ref.conj().T @ u_ref - np.eye(2**N_QUBITS)).max()
    err_tn, err_gate = np.abs(u_tn - u_ref).max(), np.abs(u_gate - u_ref).max()
    print(f"{name:24} |U_tn - U_quimb| {err_tn:.1e}  |U_gates - U_quimb| {err_gate:.1e}  "
          f"|U†U - 1| {unit:.1e}")
    assert err_tn < 1e-5 and err_gate < 1e-5 and unit < 1e-5

# %% [markdown]
# ## Replacing an MPO core by a circuit
#
# Layer 0's `q_proj` of SmolLM2 (576 × 576) as a 3-site MPO: `576 = 9·8·8`, so with bond 8
# the middle core is `(8, 8, 8, 8)`, i.e. a 64 × 64 operator: **6 qubits**. (The first site
# has a leg of 9 and the last groups 64 inputs into 8 outputs: neither can be a unitary.)

# %%
folder = default_model_path()
KEY = "model.layers.0.self_attn.q_proj.weight"
W = next(a for k, a in iter_tensors(safetensors_files(folder)) if k == KEY).T.astype(np.float32)
in_dims, out_dims = factorize(576, 3), factorize(576, 3)
BOND, SITE = 8, 1
mpo, rep = tt_svd(W, in_dims, out_dims, max_bond=BOND)
print("MPO", rep.bond_dims, [c.shape for c in mpo.cores], f"rel_error vs W {rep.rel_error:.3f}")

DEPTH = 2 if SMALL else 6
circ = CircuitSpec(DEPTH)
params, skel = hybrid_from_mpo(mpo, {SITE: circ}, jax.random.key(0))
print("skeleton", skel.param_shapes(), "qubits", skel.n_qubits(SITE),
      "trainable", skel.num_params(), "vs dense", W.size)

# %% [markdown]
# At random angles the circuit is an arbitrary unitary, not the core it replaced, and the
# layer is far from the MPO. `reparam` mode needs the circuit *fitted* to the core it replaces.
# An orthogonal circuit has ‖U‖_F² = 2^n = 64 while the core has ‖G‖_F² = 8 (TT-SVD leaves it
# an isometry in another grouping), so `qtn.tn.fit.fit_circuit` fits up to a scale `s`
# (closed form at every Adam step, `s = ⟨C(θ), G⟩ / ‖C(θ)‖²`, so `G ≈ s·C(θ)`) and
# `apply_fit` folds `s` into the next classical core. Its `identity_rel_error` is the same
# error at zero angles — qtn's "identity" initialisation — for comparison.
#
# Reference line: the best *any* orthogonal 64 × 64 matrix can do (the polar factor of `G`,
# orthogonal Procrustes) — the limit of an infinitely deep real circuit.

# %%
W_mpo = jnp.asarray(mpo.to_dense())
g_mpo = jnp.asarray(mpo.cores[SITE])


def rel_err(skel, p):
    return float(jnp.linalg.norm(to_dense(skel, p) - W_mpo) / jnp.linalg.norm(W_mpo))


print(f"random angles: ‖W_hybrid − W_mpo‖/‖W_mpo‖ = {rel_err(skel, params):.3f}")

l, i, j, r = g_mpo.shape
sv = np.linalg.svd(np.asarray(g_mpo).reshape(l * i, j * r), compute_uv=False)
procrustes = float(np.sqrt(1 - sv.sum() ** 2 / (l * i * np.sum(sv**2))))

FIT_DEPTHS = [2] if SMALL else [1, 2, 4, 8, 16]
STEPS = 30 if SMALL else 500

fig, ax = plt.subplots(figsize=(6.5, 3.8))
for depth in FIT_DEPTHS:
    p, sk = hybrid_from_mpo(mpo, {SITE: CircuitSpec(depth)}, jax.random.key(depth))
    fit = fit_circuit(sk, SITE, g_mpo, key=jax.random.key(depth), steps=STEPS, lr=0.1)
    identity = replace(fit, angles=jnp.zeros_like(fit.angles), scale=fit.identity_scale)
    w_fit = rel_err(sk, apply_fit(sk, p, SITE, fit))
    w_id = rel_err(sk, apply_fit(sk, p, SITE, identity))
    print(f"depth {depth:2}: core rel. error fitted {fit.rel_error:.3f} vs identity "
          f"{fit.identity_rel_error:.3f}; W rel. error fitted {w_fit:.3f} vs identity {w_id:.3f}; "
          f"scale {fit.scale:+.3f}")
    ax.plot(fit.loss_history, label=f"depth {depth}: core {fit.rel_error:.3f}, W {w_fit:.3f}")
ax.axhline(procrustes, color="k", ls="--", lw=0.8, label=f"best orthogonal {procrustes:.3f}")
ax.set(xlabel="Adam step", ylabel="‖G − sC(θ)‖ / ‖G‖",
       title=f"fitting a {skel.n_qubits(SITE)}-qubit hea circuit to MPO core {SITE}")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "fit_circuit_core.png", dpi=120)

# %% [markdown]
# What we saw on this layer (default sizes): even the best orthogonal matrix leaves ~79 % of
# the core's norm unexplained, and hea circuits of depth 1–16 stay near 99 % (0.986–0.997;
# zero angles, qtn's "identity", give 1.000): the MPO core of a pretrained weight is far from
# anything a real RY/CZ circuit reaches in this gauge. So in
# `reparam` mode the frozen residual `W0 − T(θ0)` carries almost all of the replaced core
# whatever the initialisation, and a fitted circuit buys little over an identity one here.
# (Open question: fitting up to the bond gauge — training the neighbouring cores too — may
# change that.)

# %% [markdown]
# ## Gradients w.r.t. the angles
#
# Three independent derivatives of one output entry `y = (x W)[0, 0]` w.r.t. every angle:
#
# - JAX autodiff through the network;
# - central finite differences in float64;
# - the **amplitude shift rule**: each angle enters one RY gate, and a function *linear* in
#   `RY(θ) = cos(θ/2)·1 − i sin(θ/2)·Y` satisfies `f'(θ) = [f(θ+π) − f(θ−π)] / 4` exactly.
#   (Measured probabilities are quadratic in U and use the familiar ±π/2 rule instead; that is
#   the hardware path, `readout="probs"`.)

# %%
with jax.enable_x64(True):
    p64 = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
    x = jax.random.normal(jax.random.key(1), (1, skel.d_in), jnp.float64)
    name = f"angles{SITE}"

    @jax.jit
    def y00(a):
        return (x @ to_dense(skel, {**p64, name: a}))[0, 0]

    a0 = p64[name]
    g_auto = np.asarray(jax.grad(y00)(a0))
    g_fd, g_shift = np.zeros_like(g_auto), np.zeros_like(g_auto)
    eye = np.eye(a0.size).reshape(a0.size, *a0.shape)
    for idx in range(a0.size):
        e = jnp.asarray(eye[idx])
        g_fd.flat[idx] = (y00(a0 + 1e-6 * e) - y00(a0 - 1e-6 * e)) / 2e-6
        g_shift.flat[idx] = (y00(a0 + np.pi * e) - y00(a0 - np.pi * e)) / 4
print(f"{a0.size} angles: max |autodiff - finite diff| {np.abs(g_auto - g_fd).max():.1e}, "
      f"max |autodiff - shift rule| {np.abs(g_auto - g_shift).max():.1e}")
assert np.allclose(g_auto, g_shift, atol=1e-9) and np.allclose(g_auto, g_fd, atol=1e-6)

# %% [markdown]
# ## The same layer through a contraction plan
#
# Training never builds `W`: `get_plan` finds a cotengra path for `x (batch, d_in) → y` once
# (cached in-process and on disk) and `plan.apply` runs it in JAX. Values and angle gradients
# must match the dense reference.

# %%
BATCH = 16 if SMALL else 256
plan = get_plan(skel, BATCH)
xb = jax.random.normal(jax.random.key(2), (BATCH, skel.d_in))
y_plan = jax.jit(plan.apply)(params, xb)  # the plan is static: apply traces like any function
y_dense = xb @ to_dense(skel, params)
print(f"strategy {plan.strategy}: max |y_plan - y_dense| "
      f"{float(jnp.abs(y_plan - y_dense).max()):.1e} (|y| ~ {float(jnp.abs(y_dense).max()):.1f})")


def loss_plan(a):
    return jnp.sum(plan.apply({**params, name: a}, xb) ** 2)


def loss_dense(a):
    return jnp.sum((xb @ to_dense(skel, {**params, name: a})) ** 2)


ga = jax.jit(jax.grad(loss_plan))(params[name])
gb = jax.jit(jax.grad(loss_dense))(params[name])
print(f"angle grads: max rel diff {float(jnp.abs(ga - gb).max() / jnp.abs(gb).max()):.1e}")
print(plan.cost.to_markdown())

# %% [markdown]
# ## Measured readouts: the hardware path
#
# A QPU returns basis-state probabilities, not amplitudes. With `readout="probs"` the core is
# `scale · (2^n p_k − 1)`, `p_k = |<k|U(θ)|0>|²`, on n = log2(core size) qubits: the same
# `(8, 8, 8, 8)` core is now a **12-qubit** circuit (a 4096-outcome distribution). Its angle
# gradients follow the two-term parameter-shift rule `[f(θ+π/2) − f(θ−π/2)] / 2`, which is
# how they would be estimated on hardware. How close can such a core get to the MPO core, next
# to the unitary one of the same depth?

# %%
RO_DEPTH = 2 if SMALL else 4
RO_STEPS = 30 if SMALL else 300
for readout in ("unitary", "probs", "expval"):
    p_ro, sk_ro = hybrid_from_mpo(mpo, {SITE: CircuitSpec(RO_DEPTH, readout=readout)},
                                  jax.random.key(5))
    fit = fit_circuit(sk_ro, SITE, g_mpo, key=jax.random.key(5), steps=RO_STEPS, lr=0.1)
    print(f"{readout:8} {sk_ro.n_qubits(SITE):2} qubits, {fit.angles.size:3} angles: core rel. "
          f"error fitted {fit.rel_error:.3f} (zero angles {fit.identity_rel_error:.3f})")

sk_p = hybrid_skeleton(in_dims, out_dims, BOND, {SITE: CircuitSpec(1, readout="probs")})
a_p = init_params(sk_p, jax.random.key(6))[f"angles{SITE}"]


def core_entry(a):
    return circuit_core(sk_p, {f"angles{SITE}": a}, SITE).reshape(-1)[123]


g_auto = np.asarray(jax.grad(core_entry)(a_p))
g_ps = np.array([
    (core_entry(a_p.at[idx].add(np.pi / 2)) - core_entry(a_p.at[idx].add(-np.pi / 2))) / 2
    for idx in np.ndindex(*a_p.shape)
]).reshape(a_p.shape)
print(f"probs core, {a_p.size} angles: max |autodiff - parameter shift| "
      f"{np.abs(g_auto - g_ps).max():.1e} (max |grad| {np.abs(g_auto).max():.1e})")
assert np.allclose(g_auto, g_ps, atol=1e-5)

# %% [markdown]
# What we saw (default sizes, depth 4, 300 Adam steps): fitted core errors 0.988 (unitary, 6
# qubits, 24 angles), 0.981 (probs, 12 qubits, 48 angles), 0.978 (expval): the measured
# readouts have twice the angles and fit slightly better, but none comes near the pretrained
# core. Whether the hardware path trains as well as the amplitude-level one is measured in
# `experiments/paper_qtha/` (the "circuit-MPO-probs" rows: method `circuit_mpo`, qtn's
# weight-space hybrid).
