"""Contraction costs of a run config's adapters, from shapes alone (no weights are loaded).

:func:`config_costs` reads the model's ``config.json`` (or GGUF metadata), builds the model
skeleton with ``nnx.eval_shape`` (nothing allocated), resolves every targeted module's method
config (per-module overrides included) and reports, per module and in total: trainable and
dense-equivalent params, compression, forward / backward multiply-adds of the layer for the
configured tokens per step (batch_size x max_len), peak intermediate size / bytes, width,
path-search time, whether ΔW is materialised; the same for LoRA at the same targets (at the
configured rank for ``lora`` and ``qtha``, else r=8, or ``lora_rank``); and the quantum work of
every circuit (:mod:`qtn.adapters.circuit_work`: qubits, gates, angles, circuits per forward and
per training step with the parameter-shift rule), summed over the model.

FLOP model (multiply-adds; cotengra's counts for the network parts). With ``M = tokens · d_in ·
d_out`` the frozen matmul: *fold* (ΔW materialised, ``x @ (W0 + ΔW)``): forward ``B + M``,
backward ``2M + 2B`` (input and weight gradients; B = building ΔW from the cores); *contract*:
forward ``M + P``, backward ``M + 2P`` (P = the plan's flops); LoRA: forward ``M + L``,
backward ``M + 2L`` with ``L = tokens · r · (d_in + d_out)``; ``qtha``: forward ``M + P``,
backward ``M + 2P`` with P = the MPO plans' flops + the MLP / CW / QW products + the QNN's
state-vector simulation (``circuit_work.simulation_flops``, per token).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qtn.adapters.circuit_work import core_work, qnn_work, work_line
from qtn.adapters.lora import LoRAConfig
from qtn.adapters.spec import AdapterSpec, matches_target

DEFAULT_LORA_RANK = 8


@dataclass(frozen=True)
class ModuleCost:
    """Costs of one adapted module (flops are multiply-adds of the whole layer, frozen matmul
    included; ``lora_*`` the same layer with LoRA at ``lora_rank``)."""

    path: str
    method: str
    d_in: int
    d_out: int
    trainable_params: int
    dense_params: int
    forward_flops: int
    backward_flops: int
    peak_size: int
    peak_bytes: int
    width: float
    path_search_s: float
    materialises_delta: bool
    strategy: str
    lora_rank: int
    lora_params: int
    lora_forward_flops: int
    lora_backward_flops: int
    circuits: tuple[dict, ...] = ()

    @property
    def compression(self) -> float:
        return self.dense_params / max(self.trainable_params, 1)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["circuits"] = list(self.circuits)
        d["compression"] = self.compression
        d["log10_forward_flops"] = _log10(self.forward_flops)
        d["log10_backward_flops"] = _log10(self.backward_flops)
        d["lora_log10_forward_flops"] = _log10(self.lora_forward_flops)
        d["lora_log10_backward_flops"] = _log10(self.lora_backward_flops)
        return d


@dataclass(frozen=True)
class ConfigCosts:
    """All modules of one run config plus totals (sums; peak and width are maxima)."""

    method: str
    model: str
    tokens: int
    modules: tuple[ModuleCost, ...]
    seconds: float

    def totals(self) -> dict[str, Any]:
        m = self.modules
        total = {
            k: sum(getattr(x, k) for x in m)
            for k in ("trainable_params", "dense_params", "forward_flops", "backward_flops")
            + ("lora_params", "lora_forward_flops", "lora_backward_flops", "path_search_s")
        }
        total["peak_bytes"] = max((x.peak_bytes for x in m), default=0)
        total["width"] = max((x.width for x in m), default=0.0)
        total["ratio_to_lora"] = total["trainable_params"] / max(total["lora_params"], 1)
        for k in ("circuits_per_forward", "circuits_per_step"):
            total[k] = sum(c[k] for x in m for c in x.circuits)
        for k in ("forward_flops", "backward_flops", "lora_forward_flops", "lora_backward_flops"):
            total[f"log10_{k}"] = _log10(total[k])
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "model": self.model,
            "tokens": self.tokens,
            "seconds": self.seconds,
            "modules": [x.to_dict() for x in self.modules],
            "total": self.totals(),
        }

    def to_markdown(self) -> str:
        """Modules grouped by path with layer numbers as ``*`` (identical rows), totals, LoRA
        comparison and quantum resources."""
        groups: dict[tuple, list[ModuleCost]] = {}
        for x in self.modules:
            rest = (v for k, v in asdict(x).items() if k not in ("path", "path_search_s"))
            key = (_layer_pattern(x.path), *map(str, rest))
            groups.setdefault(key, []).append(x)
        lines = [
            f"{self.method} adapter on {self.model}: {len(self.modules)} modules, "
            f"{self.tokens} tokens per step (shapes only, {self.seconds:.2f} s)",
            "",
            "| modules | n | shape | trainable | dense | compression | log10 FLOPs fwd / bwd "
            "| peak bytes | width | ΔW materialised | LoRA r | LoRA params "
            "| LoRA log10 fwd / bwd |",
            "|---|---:|---|---:|---:|---:|---|---:|---:|---|---:|---:|---|",
        ]
        for (name, *_), xs in groups.items():
            x = xs[0]
            d = x.to_dict()
            lines.append(
                f"| {name} | {len(xs)} | {x.d_in}x{x.d_out} | {x.trainable_params:,} "
                f"| {x.dense_params:,} | {x.compression:.1f}x "
                f"| {d['log10_forward_flops']:.3f} / {d['log10_backward_flops']:.3f} "
                f"| {x.peak_bytes:,} | {x.width:.1f} | {'yes' if x.materialises_delta else 'no'} "
                f"| {x.lora_rank} | {x.lora_params:,} "
                f"| {d['lora_log10_forward_flops']:.3f} / {d['lora_log10_backward_flops']:.3f} |"
            )
        t = self.totals()
        lines += [
            "",
            f"**total**: trainable {t['trainable_params']:,} vs LoRA r={self.modules[0].lora_rank}"
            f" {t['lora_params']:,} ({100 * t['ratio_to_lora']:.1f} %); dense-equivalent "
            f"{t['dense_params']:,}; log10 FLOPs fwd {t['log10_forward_flops']:.3f} / bwd "
            f"{t['log10_backward_flops']:.3f} (LoRA {t['log10_lora_forward_flops']:.3f} / "
            f"{t['log10_lora_backward_flops']:.3f}); peak {t['peak_bytes']:,} bytes; path search "
            f"{t['path_search_s']:.3f} s",
        ]
        quantum = {}
        for x in self.modules:
            for c in x.circuits:
                quantum.setdefault((_layer_pattern(x.path), *map(str, c.values())), c)
        if quantum:
            lines += [
                "",
                f"Quantum work per circuit ({self.tokens} tokens per step, padding included; "
                f"model total: {t['circuits_per_forward']:,} circuits per forward, "
                f"{t['circuits_per_step']:,} per training step with the parameter-shift rule):",
                "",
            ]
            for (name, *_), c in quantum.items():
                lines.append(work_line(name, c))
        return "\n".join(lines) + "\n"


def _layer_pattern(path: str) -> str:
    """``layers.3.self_attn.q_proj`` -> ``layers.*.self_attn.q_proj``."""
    return re.sub(r"(^|\.)\d+(\.|$)", r"\1*\2", path)


def _log10(n: float) -> float:
    return math.log10(max(n, 1))


def model_config_dict(path: str) -> dict[str, Any]:
    """``config.json`` dict of ``model.path`` without reading weights: an HF folder, a
    ``.gguf`` file (metadata), or ``default`` (the converted folder if present, else the GGUF)."""
    from qtn.hf.assets import (
        CONVERSION_VERSION,
        GGUF_NAME,
        GGUF_SHA256,
        default_gguf_path,
        resolve_cache_dir,
    )
    from qtn.hf.gguf_import import read_gguf_config
    from qtn.hf.pretrained import load_config

    if path == "default":
        stem = Path(GGUF_NAME).stem
        folder = resolve_cache_dir() / "models" / f"{stem}-{GGUF_SHA256[:12]}-v{CONVERSION_VERSION}"
        if (folder / "config.json").is_file():
            return load_config(folder).to_dict()
        return read_gguf_config(default_gguf_path(verify=False))
    p = Path(path).expanduser()
    if p.is_dir():
        return load_config(p).to_dict()
    if p.is_file() and p.suffix == ".gguf":
        return read_gguf_config(p)
    raise ValueError(
        f"model.path {path!r}: qtn cost needs a local HF folder, a .gguf file or 'default' "
        "(shapes are read without downloading)"
    )


def target_shapes(model_cfg: dict[str, Any], spec: AdapterSpec) -> list[tuple[str, int, int]]:
    """``(path, in_features, out_features)`` of every module ``spec`` targets, from an
    ``nnx.eval_shape`` skeleton of the model (nothing allocated)."""
    from flax import nnx

    from qtn.adapters.inject import get_submodule, linear_paths
    from qtn.models import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig.from_dict(model_cfg)
    model = nnx.eval_shape(lambda: LlamaForCausalLM(cfg, rngs=nnx.Rngs(0)))
    out = []
    for p in linear_paths(model):
        if matches_target(p, spec.target_modules):
            lin = get_submodule(model, p)
            out.append((p, lin.in_features, lin.out_features))
    if not out:
        raise ValueError(f"target_modules {spec.target_modules!r} matched no Linear layer")
    return out


def module_cost(
    path: str,
    d_in: int,
    d_out: int,
    method: str,
    cfg: Any,
    tokens: int,
    lora_rank: int,
    cache_dir: str | None = None,
) -> ModuleCost:
    """Costs of one (d_in, d_out) module adapted by ``method`` with config ``cfg``."""
    from qtn.contract import get_plan
    from qtn.nn.hybrid_linear import folds_delta

    matmul = tokens * d_in * d_out
    lora = LoRAConfig(r=lora_rank)
    low = tokens * lora_rank * (d_in + d_out)
    common = dict(
        path=path,
        method=method,
        d_in=d_in,
        d_out=d_out,
        dense_params=d_in * d_out,
        lora_rank=lora_rank,
        lora_params=lora.trainable_params(d_in, d_out),
        lora_forward_flops=matmul + low,
        lora_backward_flops=matmul + 2 * low,
    )
    itemsize = np.dtype(np.float32).itemsize
    if method == "lora":
        own = tokens * cfg.r * (d_in + d_out)
        peak = tokens * (d_in + d_out + cfg.r) + d_in * d_out + cfg.r * (d_in + d_out)
        return ModuleCost(
            **common,
            trainable_params=cfg.trainable_params(d_in, d_out),
            forward_flops=matmul + own,
            backward_flops=matmul + 2 * own,
            peak_size=peak,
            peak_bytes=peak * itemsize,
            width=math.log2(max(tokens * max(d_in, d_out), 1)),
            path_search_s=0.0,
            materialises_delta=False,
            strategy="lora",
        )
    if method == "qtha":
        return _qtha_cost(common, cfg, tokens, matmul, cache_dir)
    skel = cfg.skeleton(d_in, d_out)
    fold = folds_delta(skel, tokens, cfg.forward, cfg.strategy)
    plan = get_plan(skel, tokens, strategy="dense" if fold else cfg.strategy, cache_dir=cache_dir)
    rep = plan.cost
    if fold:
        build = rep.flops - matmul  # the dense plan's cost includes x @ W
        fwd, bwd = matmul + build, 2 * matmul + 2 * build
    else:
        fwd, bwd = matmul + rep.flops, matmul + 2 * rep.flops
    return ModuleCost(
        **common,
        trainable_params=cfg.trainable_params(d_in, d_out),
        forward_flops=fwd,
        backward_flops=bwd,
        peak_size=rep.peak_size,
        peak_bytes=rep.peak_bytes,
        width=rep.width,
        path_search_s=rep.path_search_s,
        materialises_delta=fold,
        strategy=rep.strategy,
        circuits=tuple(circuit_resources(skel)),
    )


def _qtha_cost(common: dict, cfg: Any, tokens: int, matmul: int, cache_dir: str | None):
    """The paper's QTHA layer: MPO plans (x through the cores), the r-wide maps, the QNN."""
    from qtn.contract import get_plan
    from qtn.quantum.circuit import qnn_circuit

    d_in, d_out, r = common["d_in"], common["d_out"], cfg.r
    parts = cfg.parts
    plans = [
        get_plan(skel, tokens, cache_dir=cache_dir)
        for skel in cfg.mpo_skeletons(d_in, d_out)
        if skel is not None
    ]
    flops = sum(p.cost.flops for p in plans)
    peak = max([p.cost.peak_size for p in plans] + [tokens * max(d_in, d_out)])
    circuits = ()
    if "mlp" in parts:
        d_a = cfg.bottleneck if "mpo" in parts else d_in
        d_b = cfg.bottleneck if "mpo" in parts else d_out
        flops += tokens * r * (d_a + d_b + r * (("cw" in parts) + ("qnn" in parts)))
    if "qnn" in parts:
        work = qnn_work(qnn_circuit(r, cfg.layers), tokens)
        flops += tokens * work["simulation_flops"]
        peak = max(peak, tokens * 2**r)
        circuits = (work,)
    itemsize = np.dtype(np.float32).itemsize
    return ModuleCost(
        **common,
        trainable_params=cfg.trainable_params(d_in, d_out),
        forward_flops=matmul + flops,
        backward_flops=matmul + 2 * flops,
        peak_size=peak,
        peak_bytes=peak * itemsize,
        width=math.log2(max(peak, 1)),
        path_search_s=sum(p.cost.path_search_s for p in plans),
        materialises_delta=False,
        strategy=f"qtha {cfg.arch}",
        circuits=circuits,
    )


def circuit_resources(skel: Any) -> list[dict[str, Any]]:
    """One dict per circuit site (:func:`qtn.adapters.circuit_work.core_work`): qubits, depth,
    ansatz, readout, two-qubit gates, rotations, angles, circuits per forward / step."""
    return [core_work(k, spec, skel.n_qubits(k)) for k, spec in skel.circuits]


def config_costs(
    run_config: Any, cache_dir: str | None = None, lora_rank: int | None = None
) -> ConfigCosts:
    """The cost report of a :class:`qtn.experiment.config.RunConfig` (its adapter must be set).
    ``lora_rank``: the LoRA the adapter is compared with (default: the config's own r for
    ``lora`` and ``qtha``, else 8)."""
    import time

    t0 = time.perf_counter()
    spec = run_config.adapter_spec
    if spec is None:
        raise ValueError("the config has no adapter (adapter: null / method: none): no costs")
    data = run_config.data_config()
    tokens = int(data.batch_size * data.max_len)
    if lora_rank is None:
        own = spec.method in ("lora", "qtha")
        lora_rank = spec.config_for("").r if own else DEFAULT_LORA_RANK
    shapes = target_shapes(model_config_dict(run_config.model.path), spec)
    modules = []
    for p, i, o in shapes:
        try:
            cfg = spec.config_for(p)
            modules.append(module_cost(p, i, o, spec.method, cfg, tokens, lora_rank, cache_dir))
        except ValueError as err:
            raise ValueError(f"{spec.method} adapter for module {p}: {err}") from err
    return ConfigCosts(
        spec.method, run_config.model.path, tokens, tuple(modules), time.perf_counter() - t0
    )


def plot_tree(
    cost: ModuleCost, run_config: Any, directory: str | Path, cache_dir: str | None = None
) -> list[Path]:
    """cotengra tent + ring plots of the main tree of ``cost``'s layer plan (x through the
    network, the config's strategy; even when the layer folds ΔW instead; MPO_A's plan for
    ``qtha``) as PNG and SVG under ``directory``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qtn.contract import get_plan

    if cost.method == "lora":
        raise ValueError("--plot needs an MPO-based method (mpo / circuit_mpo / qtha), not lora")
    cfg = run_config.adapter_spec.config_for(cost.path)
    tokens = run_config.data_config().batch_size * run_config.data_config().max_len
    if cost.method == "qtha":
        skel, _ = cfg.mpo_skeletons(cost.d_in, cost.d_out)
        if skel is None:
            raise ValueError(f"--plot: qtha arch {cfg.arch!r} has no MPO to plot")
        strategy = "auto"
    else:
        skel = cfg.skeleton(cost.d_in, cost.d_out)
        strategy = "dense" if cost.materialises_delta else cfg.strategy
    plan = get_plan(skel, tokens, strategy=strategy, cache_dir=cache_dir)
    tree = plan.trees[-1]
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    name = f"{_layer_pattern(cost.path).replace('*', 'N')}.{plan.strategy}"
    for kind in ("tent", "ring"):
        fig, _ = getattr(tree, f"plot_{kind}")(show_and_close=False)
        for ext in ("png", "svg"):
            f = out / f"{name}.{kind}.{ext}"
            fig.savefig(f, bbox_inches="tight")
            written.append(f)
        plt.close(fig)
    return written
