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
# # 07 · The hardware path: circuits as a QPU runs them
#
# A walk through `experiments/hardware_path/`: the paper's QTHA (and the weight-space
# circuit-MPO with a measured readout) fine-tuned with circuits evaluated the way hardware
# evaluates them. Every circuit evaluation in qtn goes through one executor interface
# (`qtn.quantum`): `exact` (state vector, autodiff), `sampled` (shots), `noisy` (a device's
# gate and readout errors, by density matrix or trajectories) and external SDKs
# (`pyqpanda3`: Origin's CPUQVM locally, Wukong on Origin's cloud). With a non-exact executor,
# gradients follow a hardware rule: parameter shift, SPSA, or the simulator's backward.
#
# The notebook (1) reads the experiment's files, (2) evaluates one QNN circuit with every
# executor, (3) measures shot noise, (4) compares the gradient rules, (5) places circuits on
# the `wukong72` device model, (6) trains exact vs sampled vs noisy on a tiny budget,
# (7) prices a step on a QPU, (8) exports the trained circuit as OpenQASM, and (9) shows the
# experiment's own results when they exist.
#
# Default sizes: SmolLM2-135M-Instruct, QTHA on `layers.29.self_attn.v_proj`, 10 steps of
# 2 sequences of 64 tokens per executor. `QTN_NB_SMALL=1`: a tiny random Llama (1 layer,
# hidden 64), QTHA with 2 qubits and one QNN layer on its `q_proj`, 4 steps (sections 2–5 keep
# the config's circuit).

# %%
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import yaml
from IPython.display import Image, Markdown, display

import qtn
from qtn.adapters import load_adapter
from qtn.adapters.circuit_work import circuit_uses
from qtn.commands.cost import config_bill
from qtn.experiment import run_training
from qtn.experiment.config import RunConfig
from qtn.experiment.run import load_model
from qtn.hf import default_model_path, tiny_random_loader
from qtn.nn.quantum import circuit_exports
from qtn.quantum import (
    ExactExecutor,
    SampledExecutor,
    estimate,
    export_circuits,
    get_device,
    native_counts,
    qnn_circuit,
    shifted_circuits,
)
from qtn.quantum.bill import device_counts, gradient_multiplier
from qtn.quantum.bitorder import little_to_qtn
from qtn.quantum.config import QuantumConfig, make_executor
from qtn.quantum.export import slot_angles_np
from qtn.sweep.collect import collect
from qtn.sweep.spec import load_sweep
from qtn.train.metrics import read_metrics

SMALL = os.environ.get("QTN_NB_SMALL", "0") == "1"
OUT = Path(os.environ.get("QTN_NB_OUT", "../runs/notebooks")) / "07_hardware_path"
OUT.mkdir(parents=True, exist_ok=True)
REPO = Path(qtn.__file__).resolve().parents[1]
EXP = REPO / "experiments" / "hardware_path"

# %% [markdown]
# ## 1 · The experiment's files
#
# `config.yaml` is the base every point shares (SmolLM2, sentiment, QTHA ABC with r = 4 qubits
# and 2 QNN layers on the q/v projections of decoder layers 28–29, 30 steps); `sweep.yaml`
# changes only the adapter and the `quantum:` section; `run.sh` runs the sweep and writes
# `RESULTS.md`. The points, as `qtn sweep` expands them:

# %%
base = yaml.safe_load((EXP / "config.yaml").read_text())
sweep = load_sweep(EXP / "sweep.yaml")
points = sweep.expand()
lines = ["| point | method | executor | shots | gradient | device | extra |",
         "|---|---|---|---:|---|---|---|"]
for p in points:
    cfg = RunConfig.from_dict(p.config)
    spec, q = cfg.adapter_spec, cfg.quantum
    extra = f"{q.trajectories} trajectories" if q.executor == "noisy" and spec and \
        spec.method == "circuit_mpo" else ""
    lines.append(f"| {p.label} | {spec.method if spec else 'none'} | {q.executor} | "
                 f"{q.shots if q.executor != 'exact' else '-'} | {q.resolved_gradient} | "
                 f"{q.device} | {extra} |")
display(Markdown("\n".join(lines)))
print("run.sh:", *[line for line in (EXP / "run.sh").read_text().splitlines()
                   if line.startswith(("#", ".venv"))][:8], sep="\n  ")

# %% [markdown]
# ## 2 · One circuit, every executor
#
# The QTHA QNN of the config (`qnn_circuit(r, qnn_layers)`; one layer in small mode) with
# random trained-like angles
# (U(−π, π), the layer's initialisation) and three tokens' encodings `h ~ N(0, 1)`. Each
# executor is built from a `quantum:` section by `make_executor`, exactly as a run builds it;
# all return the 2^r basis-state probabilities (qtn order: qubit 0 most significant).
# `noisy` on `wukong72` uses the device's default noise (Origin's QLLM-peft figures:
# depolarizing 0.01 per U3, 0.1 per CZ, readout confusion [[0.95, 0.05], [0.10, 0.90]]);
# `shots: null` gives the exact noisy distribution.

# %%
R, LAYERS = base["adapter"]["r"], 1 if SMALL else base["adapter"]["qnn_layers"]
circ = qnn_circuit(R, LAYERS)
rng = np.random.default_rng(0)
weights = jnp.asarray(rng.uniform(-np.pi, np.pi, circ.n_weights), jnp.float32)
inputs = jnp.asarray(rng.normal(size=(3, circ.n_inputs)), jnp.float32)
angles = circ.slot_angles(weights, inputs)  # (3 tokens, slots)
print(f"{circ.name}: {circ.n_qubits} qubits, {circ.n_slots} slots "
      f"({circ.n_weights} weights + {circ.n_inputs} inputs), {circ.two_qubit_gates()} CRZ")

SECTIONS = {
    "exact": {"executor": "exact"},
    "sampled 1000": {"executor": "sampled", "shots": 1000},
    "noisy wukong72 (density matrix)": {"executor": "noisy", "device": "wukong72",
                                        "shots": None},
    "noisy wukong72 (200 trajectories)": {"executor": "noisy", "device": "wukong72",
                                          "shots": None, "trajectories": 200,
                                          "max_density_qubits": 0},
    "noisy wukong72 1000": {"executor": "noisy", "device": "wukong72", "shots": 1000},
    "pyqpanda3 ideal (exact)": {"executor": "pyqpanda3", "shots": None},
    "pyqpanda3 wukong72 (exact)": {"executor": "pyqpanda3", "device": "wukong72",
                                   "shots": None},
    "pyqpanda3 wukong72 1000": {"executor": "pyqpanda3", "device": "wukong72", "shots": 1000},
}
probs = {}
for label, section in SECTIONS.items():
    q = QuantumConfig(**section)
    try:
        q.preflight()
    except ImportError as err:  # pyqpanda3 is an optional extra (qtn[pyqpanda3])
        print(f"{label}: skipped ({err})")
        continue
    executor = make_executor(q)
    probs[label] = np.asarray(executor.probabilities(circ, angles, jax.random.key(1)))


def tv(p, q):
    """Total-variation distance per row, averaged over the tokens."""
    return float(np.mean(0.5 * np.abs(p - q).sum(-1)))


def z_of(p):
    """<Z_q> per qubit from probabilities (qubit 0 = most significant bit)."""
    n = int(np.log2(p.shape[-1]))
    bits = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))) & 1
    return p @ (1 - 2 * bits)


ref_noisy = probs["noisy wukong72 (density matrix)"]
lines = ["| executor | TV to exact | TV to exact noisy | <Z_q> of token 0 |", "|---|---:|---:|---|"]
for label, p in probs.items():
    z = ", ".join(f"{v:+.3f}" for v in z_of(p[0]))
    lines.append(f"| {label} | {tv(p, probs['exact']):.4f} | {tv(p, ref_noisy):.4f} | {z} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# The ideal pyqpanda3 simulator agrees with qtn's exact simulation, and pyqpanda3's CPUQVM
# with the same noise model agrees with qtn's density matrix (same native U3 + CZ circuit, same
# channels): the TVs between them are round-off. `wukong72`'s default noise (10 %
# depolarizing per CZ; native counts in section 5) washes most of the signal out: the noisy
# distribution is close to uniform and the `<Z_q>` shrink towards 0. Token 0 side by side:

# %%
show = ["exact", "sampled 1000", "noisy wukong72 (density matrix)", "noisy wukong72 1000",
        "pyqpanda3 wukong72 1000"]
show = [s for s in show if s in probs]
fig, ax = plt.subplots(figsize=(12, 3.8))
width = 0.8 / len(show)
for i, label in enumerate(show):
    ax.bar(np.arange(circ.dim) + (i - len(show) / 2 + 0.5) * width, probs[label][0], width,
           label=label)
ax.set_xticks(np.arange(circ.dim), [format(k, f"0{R}b") for k in range(circ.dim)],
              rotation=90, fontsize=8)
ax.set(xlabel="basis state |q0 q1 q2 q3>", ylabel="probability",
       title=f"{circ.name}, token 0, by executor")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "executors_probabilities.png", dpi=120)

# %% [markdown]
# ## 3 · Shot noise: std ∝ 1/√shots
#
# `SampledExecutor(shots)` draws multinomial counts from the exact distribution with an
# explicit key. One token's circuit repeated `REPS` times (one row each, independent draws):
# the measured std of each frequency against the binomial `sqrt(p(1 − p)/shots)`, and of the
# estimated `<Z_0>` against `sqrt((1 − <Z_0>²)/shots)`.

# %%
REPS = 200 if SMALL else 1000
SHOTS = [10, 100, 1000, 10000]
p0 = probs["exact"][0]
rows0 = jnp.tile(angles[:1], (REPS, 1))
measured, predicted, z_measured, z_predicted = [], [], [], []
for shots in SHOTS:
    f = np.asarray(SampledExecutor(shots).probabilities(circ, rows0, jax.random.key(shots)))
    measured.append(f.std(axis=0).mean())
    predicted.append(np.sqrt(p0 * (1 - p0) / shots).mean())
    z = z_of(f)[:, 0]
    z_measured.append(z.std())
    z_predicted.append(np.sqrt((1 - z_of(p0)[0] ** 2) / shots))
lines = ["| shots | mean std of a frequency | binomial | std of <Z_0> | predicted |",
         "|---:|---:|---:|---:|---:|"]
for s, a, b, c, d in zip(SHOTS, measured, predicted, z_measured, z_predicted, strict=True):
    lines.append(f"| {s:,} | {a:.5f} | {b:.5f} | {c:.5f} | {d:.5f} |")
display(Markdown("\n".join(lines)))

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(SHOTS, measured, "o", label="frequency: measured (mean over states)")
ax.loglog(SHOTS, predicted, "-", label="frequency: sqrt(p(1-p)/shots)")
ax.loglog(SHOTS, z_measured, "s", label="<Z_0>: measured")
ax.loglog(SHOTS, z_predicted, "--", label="<Z_0>: sqrt((1-<Z>²)/shots)")
ax.set(xlabel="shots per circuit", ylabel="std over repetitions",
       title=f"shot noise ({REPS} repetitions)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "shot_noise.png", dpi=120)

# %% [markdown]
# ## 4 · Gradient rules on one circuit
#
# `qtn.quantum.estimate(executor, circuit, weights, inputs, measure="z", gradient=...)` is the
# call every layer makes; its gradient rule is a `jax.custom_vjp`. The loss
# `L = Σ_tokens Σ_q c_q <Z_q>` (fixed c) differentiated w.r.t. the circuit's weights by each rule,
# against autodiff through the exact simulation: `parameter_shift` is exact (2 circuits per
# RY slot, 4 per CRZ slot); with shots it is unbiased with shot noise; one SPSA draw is a
# rough, unbiased direction (2 circuits whatever the number of angles), and averaging draws
# converges; `simulator` takes the forward from the executor and the backward from the exact
# simulation.

# %%
coef = jnp.arange(1.0, R + 1.0)


def loss(w, executor, rule, key):
    z = estimate(executor, circ, w, inputs, measure="z", gradient=rule, key=key)
    return jnp.sum(z * coef)


def gradient(executor, rule, key):
    """d loss / d weights by ``rule``, jitted (one program per rule: dispatching the shifted
    circuits op by op is slower than compiling them)."""
    return jax.jit(lambda w, k: jax.grad(loss)(w, executor, rule, k))(weights, key)


reference = gradient(ExactExecutor(), "autodiff", None)
RULES = {
    "parameter_shift (exact)": (ExactExecutor(), "parameter_shift"),
    "parameter_shift (1000 shots)": (SampledExecutor(1000), "parameter_shift"),
    "simulator (1000 shots forward)": (SampledExecutor(1000), "simulator"),
}
N_SPSA = 16 if SMALL else 64
grads = {name: gradient(ex, rule, jax.random.key(7)) for name, (ex, rule) in RULES.items()}
spsa = jax.jit(jax.vmap(lambda k: jax.grad(loss)(weights, ExactExecutor(), "spsa", k)))(
    jax.random.split(jax.random.key(8), N_SPSA))
grads["spsa (1 draw)"] = spsa[0]
grads[f"spsa (mean of {N_SPSA} draws)"] = spsa.mean(0)


def compare(g):
    err = float(jnp.linalg.norm(g - reference) / jnp.linalg.norm(reference))
    cos = float(g @ reference / (jnp.linalg.norm(g) * jnp.linalg.norm(reference)))
    return err, cos


lines = ["| rule | circuits per circuit for the gradient | rel. error vs autodiff | cosine |",
         "|---|---:|---:|---:|"]
for name, g in grads.items():
    rule = name.split(" ")[0]
    extra = gradient_multiplier(circ, rule) * (N_SPSA if "mean" in name else 1)
    err, cos = compare(g)
    lines.append(f"| {name} | {extra} | {err:.2e} | {cos:.4f} |")
display(Markdown("\n".join(lines)))
print(f"parameter shift: {shifted_circuits(circ)} circuits per circuit "
      f"(RY slots x 2 + CRZ slots x 4, input slots included)")

# %% [markdown]
# ## 5 · The device model: `wukong72`
#
# 72 qubits on a 12 × 6 grid, 126 couplers (inferred from Origin's published figures, not an
# official map), native U3 + CZ. A circuit is placed by embedding its two-qubit interaction
# graph in the coupling graph (`Device.layout`, VF2); the r = 4 QNN's CRZ ring is a 4-cycle,
# which embeds in a grid square. An odd ring (r = 5) does not embed in a bipartite grid:
# qtn's noisy executor refuses it, and the bill counts it routed with SWAPs by qiskit's
# transpiler (`qtn.quantum.routing`).

# %%
device = get_device("wukong72")
layout = device.layout(circ)
graph = device.graph()
pos = {q: (q % 6, -(q // 6)) for q in graph.nodes}
used = {tuple(sorted((layout[a], layout[b]))) for a, b in
        {tuple(sorted(g.qubits)) for g in circ.gates if len(g.qubits) == 2}}
fig, ax = plt.subplots(figsize=(4, 7))
nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="0.75")
nx.draw_networkx_edges(graph, pos, edgelist=sorted(used), ax=ax, edge_color="C3", width=3)
nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=120,
                       node_color=["C3" if q in layout else "C0" for q in graph.nodes])
nx.draw_networkx_labels(graph, pos, {p: f"q{i}" for i, p in enumerate(layout)}, ax=ax,
                        font_size=7, font_color="w")
ax.set_title(f"wukong72: {device.n_qubits} qubits, {len(device.edges)} couplers;\n"
             f"{circ.name} placed on {layout}", fontsize=9)
ax.axis("off")
fig.tight_layout()
fig.savefig(OUT / "wukong72_layout.png", dpi=120)

# %%
mpo_point = next(p for p in points if p.label == "circuit-MPO probs exact")
mpo_spec = RunConfig.from_dict(mpo_point.config).adapter_spec
path = mpo_spec.target_modules[0]
mpo_use = circuit_uses("circuit_mpo", path, mpo_spec.config_for(path), 576, 576)[0]
CIRCUITS = {
    f"QTHA QNN r={R}, {LAYERS} layer(s) (sections 2-4)": circ,
    "QTHA QNN of config.yaml": qnn_circuit(base["adapter"]["r"], base["adapter"]["qnn_layers"]),
    "QTHA QNN r=8, 8 layers (authors' default)": qnn_circuit(8, 8),
    "QTHA QNN r=5, 2 layers (odd ring)": qnn_circuit(5, 2),
    f"circuit-MPO {mpo_use.label}, q_proj": mpo_use.circuit,
}
lines = ["| circuit | qubits | logical 2q gates | native U3 / CZ / depth | on wukong72: CZ / "
         "depth | how | noisy executor |", "|---|---:|---:|---|---|---|---|"]
for name, c in CIRCUITS.items():
    if name.endswith("config.yaml") and c == circ:
        continue  # the same circuit as sections 2-4
    n = native_counts(c)
    cz, depth, how = device_counts(c, device)
    try:
        device.check(c)
        ok = "runs"
    except ValueError as err:
        ok = "refuses: " + str(err).split(";")[0]
    lines.append(f"| {name} | {c.n_qubits} | {c.two_qubit_gates()} | {n['u3']} / {n['cz']} / "
                 f"{n['depth']} | {cz} / {depth} | {how} | {ok} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## 6 · Training: exact vs sampled vs noisy
#
# The config's own sections with a smaller budget: the same QTHA adapter trained three times
# by `qtn.experiment.run_training` (what `qtn train` runs), changing only `quantum:` —
# exact (autodiff), sampled (1,000 shots, parameter shift), noisy on `wukong72` (1,000 shots,
# parameter shift, density matrix). With parameter shift every training step evaluates
# `1 + shifts` circuits per token and module. The run's tracker counts them (`quantum_*` in
# `metrics.jsonl`).

# %%
if SMALL:
    # the default model's tokenizer and architecture, shrunk and randomly initialised
    model_loader = tiny_random_loader(default_model_path(), num_hidden_layers=1)

    overrides = {
        "model": {"path": "tiny-random"},
        "data": {**base["data"], "n_train": 16, "n_eval": 2, "max_len": 16, "batch_size": 2},
        # 2 qubits, 1 QNN layer: small programs (compiling them is most of a tiny run)
        "adapter": {**base["adapter"], "target_modules": ["q_proj"], "r": 2, "alpha": 4,
                    "qnn_layers": 1, "bottleneck": 16, "mpo_ranks": [1, 4, 4, 1]},
        "train": {"steps": 4, "lr": 1e-2, "warmup_steps": 1, "eval_every": 0},
        "eval": {"split": "val", "metric": False},
    }
else:
    model_loader = None
    overrides = {
        "data": {**base["data"], "n_train": 128, "n_eval": 16, "max_len": 64, "batch_size": 2},
        # one module: every QTHA module is its own circuit program to compile (noisy: minutes)
        "adapter": {**base["adapter"], "target_modules": ["layers.29.self_attn.v_proj"]},
        "train": {**base["train"], "steps": 10, "warmup_steps": 1, "eval_every": 5,
                  "eval_batches": 2},
        "eval": {"split": "val"},
    }
overrides["train"] = {**overrides["train"], "log_every": 1, "checkpoint_every": 0,
                      "progress": False}
EXECUTORS = {
    "exact": {"executor": "exact"},
    "sampled 1000": {"executor": "sampled", "shots": 1000, "gradient": "parameter_shift"},
    "noisy wukong72 1000": {"executor": "noisy", "device": "wukong72", "shots": 1000,
                            "gradient": "parameter_shift"},
}
runs = {}
for label, section in EXECUTORS.items():
    out = OUT / ("small" if SMALL else "default") / label.replace(" ", "_")
    config = {**base, **overrides, "name": f"notebook {label}", "out_dir": str(out),
              "quantum": section}
    if not (out / "results.json").is_file():  # re-running the notebook reuses finished runs
        t0 = time.perf_counter()
        run_training(config, model_loader=model_loader)
        print(f"{label}: {time.perf_counter() - t0:.1f} s")
    runs[label] = (config, json.loads((out / "results.json").read_text()))

lines = ["| executor | gradient | train loss | eval loss | circuits / step | shots / step | "
         "compile s | train s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
for label, (config, res) in runs.items():
    rows = read_metrics(Path(config["out_dir"]) / "metrics.jsonl")
    step = next(r for r in rows if "quantum_circuits" in r)
    lines.append(
        f"| {label} | {res['quantum']['gradient']} | {res['train_loss']:.4f} | "
        f"{res['eval_loss']:.4f} | {step['quantum_circuits']:,} | {step['quantum_shots']:,} | "
        f"{res.get('compile_s') or 0:.1f} | {res.get('train_s') or 0:.1f} |")
display(Markdown("\n".join(lines)))

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for label, (config, _) in runs.items():
    rows = read_metrics(Path(config["out_dir"]) / "metrics.jsonl")
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r and not r.get("final")]
    (line,) = ax.plot(*zip(*train, strict=True), lw=1, label=f"{label}: train")
    if evals:
        ax.plot(*zip(*evals, strict=True), "o--", color=line.get_color(), label=f"{label}: val")
ax.set(xlabel="optimizer step", ylabel="loss (per token)",
       title=f"QTHA by executor · {'tiny random Llama' if SMALL else 'SmolLM2-135M'} · "
             f"{overrides['train']['steps']} steps")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "loss_by_executor.png", dpi=120)

# %% [markdown]
# ## 7 · The bill per step
#
# `qtn.commands.cost.config_bill` (what `qtn cost --config` prints) for every point of the
# sweep that has circuits, from shapes only: circuits per training step (forward + the
# gradient rule's), shots, jobs of ≤ 200 circuits, and QPU time at 250 µs per shot and 5 s
# per job (assumptions: `qtn.quantum.bill`). Gradient rules `autodiff` / `simulator` put no
# gradient circuits on the QPU; an `exact` row prices its forward circuits as if measured.

# %%
lines = ["| point | fwd circuits | grad circuits | shots | jobs | QPU time / step | "
         "QPU time / run |", "|---|---:|---:|---:|---:|---:|---:|"]
for p in points:
    bill = config_bill(RunConfig.from_dict(p.config))
    if bill is None:
        continue
    bill, run_kw = bill
    t, r = bill.step_totals(), bill.for_run(**run_kw)
    lines.append(f"| {p.label} | {t['forward_circuits']:,} | {t['gradient_circuits']:,} | "
                 f"{t['shots']:,} | {t['jobs']:,} | {t['qpu_seconds'] / 3600:.2f} h | "
                 f"{r['qpu_seconds'] / 86400:.1f} days |")
display(Markdown("\n".join(lines)))
print("The sampled QTHA point's bill in full:")
sampled_point = next(p for p in points if p.label == "QTHA sampled 1000")
bill, run_kw = config_bill(RunConfig.from_dict(sampled_point.config))
display(Markdown(bill.to_markdown(**run_kw)))

# %% [markdown]
# ## 8 · Exporting the trained circuit
#
# `qtn export --adapter RUN/adapter --circuits DIR [--input-from inputs.json]` loads the base
# model and the adapter and writes every circuit (`qtn.nn.quantum.circuit_exports` →
# `qtn.quantum.export_circuits`): the per-token QNN as an OpenQASM 3 template (trained weights
# as numbers, inputs `h0..h{r-1}` as parameters) and, per input vector given, a concrete
# OpenQASM 2.0 and OriginIR file, plus `manifest.json`. The same two calls here, on the
# sampled run's adapter, with two input vectors; then the OpenQASM 2.0 file is read back by
# qiskit and simulated, against qtn's exact executor at the same angles.

# %%
sampled_cfg, _ = runs["sampled 1000"]
model, _ = (model_loader or load_model)(RunConfig.from_dict(sampled_cfg))
load_adapter(model, Path(sampled_cfg["out_dir"]) / "adapter")
items = circuit_exports(model)
vectors = np.random.default_rng(3).normal(size=(2, items[0].circuit.n_inputs)).round(4)
manifest = export_circuits(items, OUT / "circuits", inputs=vectors.tolist())
for rec in manifest["circuits"]:
    print(f"{rec['module']} · {rec['label']}: {rec['qubits']} qubits, {rec['gates']} gates, "
          f"depth {rec['depth']}, observable {rec['observable']}; files {rec['files']}")
first = manifest["circuits"][0]
print("\n" + (OUT / "circuits" / first["files"]["qasm3_template"]).read_text()[:900] + "...")
print("\n" + (OUT / "circuits" / first["files"]["originir"][0]).read_text()[:300] + "...")

# %%
try:
    from qiskit import qasm2
    from qiskit.quantum_info import Statevector

    item = items[0]
    text = (OUT / "circuits" / first["files"]["qasm2"][0]).read_text()
    qc = qasm2.loads(text).remove_final_measurements(inplace=False)
    p_qiskit = little_to_qtn(Statevector(qc).probabilities())
    slots = slot_angles_np(item.circuit, item.weights, vectors[0])
    p_qtn = np.asarray(ExactExecutor().probabilities(
        item.circuit, jnp.asarray(slots[None]), jax.random.key(0)))[0]
    print(f"OpenQASM 2.0 read back by qiskit vs qtn exact: max |Δp| = "
          f"{np.abs(p_qiskit - p_qtn).max():.2e}")
except ImportError as err:
    print(f"qiskit not installed ({err}): no read-back check")

# %% [markdown]
# ## 9 · The experiment's own results (when `run.sh` has run)
#
# `bash experiments/hardware_path/run.sh` writes `runs/hardware_path/` (one folder per point),
# copies the table to `experiments/hardware_path/results/` and writes `RESULTS.md`. Whatever of
# it exists is read here: the points collected by `qtn.sweep.collect`, their loss curves, and
# the report.

# %%
sweep_root = REPO / sweep.out
results_dir = EXP / "results"
rows = collect(sweep_root) if sweep_root.is_dir() else []
labels = {p.name: p.label for p in points}  # pending points have no state of their own yet
for r in rows:
    r["label"] = r.get("label") or labels.get(r["point"], r["point"])
if rows:
    lines = ["| point | status | train loss | eval loss | metric | wall s |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        def fmt(v, f=".4f"):
            return "-" if v is None else format(v, f)
        lines.append(f"| {r.get('label')} | {r['status']} | {fmt(r.get('train_loss'))} | "
                     f"{fmt(r.get('eval_loss'))} | {fmt(r.get('metric'), '.3f')} | "
                     f"{fmt(r.get('wall_time_s'), '.0f')} |")
    display(Markdown("\n".join(lines)))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in rows:
        metrics = read_metrics(sweep_root / r["dir"] / "metrics.jsonl")
        curve = [(m["step"], m["loss"]) for m in metrics if "loss" in m]
        if curve:
            ax.plot(*zip(*curve, strict=True), lw=1, label=f"{r.get('label')} ({r['status']})")
    ax.set(xlabel="optimizer step", ylabel="train loss", title=f"{sweep.name}: {sweep_root}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "hardware_path_sweep_curves.png", dpi=120)
elif (results_dir / "loss_curves.png").is_file():
    display(Image(filename=str(results_dir / "loss_curves.png")))
else:
    print(f"no results yet ({sweep_root} and {results_dir} are absent): run "
          "bash experiments/hardware_path/run.sh")
report = next((f for f in (EXP / "RESULTS.md", results_dir / "summary.md") if f.is_file()), None)
if report is not None:  # the experiment's own report (tables and notes), as generated
    print(f"--- {report.relative_to(REPO)} ---")
    display(Markdown(report.read_text()))

# %% [markdown]
# ## Reading it
#
# - Executors are interchangeable behind one call: the exact, sampled, noisy and pyqpanda3
#   probabilities of the same circuit differ only by shot noise and the device's noise.
# - Shot noise falls as 1/√shots; at 1,000 shots a `<Z>` readout is good to a few 10⁻².
# - `wukong72`'s default noise (10 % depolarizing per CZ) makes the config's 32-CZ QNN's
#   output nearly uniform: the QNN's contribution shrinks towards zero and its gradient with it.
# - Parameter shift is exact but costs `shifts` circuits per token and module per step;
#   the bill turns that into hours of QPU time per step at the experiment's size.
