"""Memory of a training step, estimated from shapes before anything is loaded.

:func:`estimate_memory` sums, per device, in bytes:

- ``base_params``: frozen pretrained weights in their storage dtype; a matrix whose logical
  axes map to ``fsdp`` (:mod:`qtn.nn.sharding`) counts ``1/fsdp`` on each device;
- ``adapter_params``: trainable adapter tensors (float32) plus frozen adapter tensors (e.g. a
  ``reparam`` residual), replicated;
- ``gradients``: one float32 copy of the trainable tensors (plus one more to accumulate when
  ``grad_accum > 1``);
- ``optimizer``: AdamW's two float32 moments;
- ``activations``: what the backward pass needs from the forward pass for this device's
  tokens, by ``train.remat``: ``none`` keeps every layer's intermediates; ``layer`` keeps one
  (tokens × d) tensor per layer plus one layer's intermediates, twice (forward recompute and its
  gradients); ``attention_mlp`` two tensors per layer plus the larger block's intermediates;
- ``widened_weights``: when the compute dtype differs from the storage dtype (bf16 weights,
  fp32 compute) *and* layers are rematerialised, the widened copy of every decoder weight
  stays alive through the step: the conversion depends only on frozen inputs, so JAX's remat
  partial evaluation computes it in the forward pass and keeps it for the backward pass
  whatever the policy (measured: ``benchmarks/results/scale.md``). Without remat XLA
  re-widens each weight where it is used. The embedding table and the output head are widened
  whole when used (the embedding lookup and the head's chunk loop). Compute in the storage
  dtype to avoid the term. With ``scan`` (``train.scan_layers``: the layers run as one
  ``lax.scan``) the term is instead the stacked copy of the decoder weights the scan reads, in
  the storage dtype: each layer's slice is widened inside the scan, so no fp32 copy of the base
  outlives its layer (16-bit weights are stacked as their bits: :func:`qtn.models.llama._stack`;
  measured: ``bench_scale.py``'s remat table and its ``qtn-lora-scan`` row). On CPU
  (``platform="cpu"``) a 16-bit compute dtype widens the weights all the same: XLA:CPU has no
  16-bit dot and converts its operands to float32, so the term counts float32 copies
  (measured: a Qwen2-7B step in bf16 compute asked XLA for 26.6 GiB of temporaries);
- ``logits``: the output head's working set: (loss tokens × V) float32 logits, softmax and
  gradient with ``loss_chunk = 0``, or the same for one chunk plus the (tokens × d) input
  gradient with the fused chunked loss;
- ``runtime``: the process itself (Python, JAX / XLA, tokenizer, compiled programs): a constant
  measured on CPU (:data:`RUNTIME_BYTES`).

The per-layer intermediates follow :mod:`qtn.models.llama` (norm outputs, q/k/v, rotated q/k,
fp32 scores and probabilities, the attention output, gate / up / SiLU / product of the MLP).
The loss tokens are taken as all B·T positions (an upper bound for instruction data, where
only completion tokens count). XLA's own temporaries and fragmentation are not modelled: the
estimate is meant to be within ~20 % of a measured peak (``benchmarks/bench_scale.py``
records both).

>>> parse_size("12GiB"), parse_size("1.5e9"), parse_size("512M")
(12884901888, 1500000000, 536870912)
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qtn.models.config import LlamaConfig

RUNTIME_BYTES = 700 * 2**20
"""Resident memory of a ``qtn train`` process before the model (Python, jax/jaxlib, XLA:CPU
runtime, transformers' tokenizer): measured 0.6-0.75 GiB on the project's CPU machines."""

TERMS = (
    "base_params",
    "adapter_params",
    "gradients",
    "optimizer",
    "activations",
    "widened_weights",
    "logits",
    "runtime",
)
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class MemoryBudgetError(ValueError):
    """A run's estimated memory exceeds the budget; the message holds the breakdown."""


@dataclass(frozen=True)
class AdapterModule:
    """One adapted projection: trainable scalars (float32), frozen adapter bytes, and the
    bytes of its working set inside the step (e.g. a folded float32 ΔW + W0: d_in x d_out)."""

    path: str
    d_in: int
    d_out: int
    trainable: int
    frozen_bytes: int = 0
    work_bytes: int = 0


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes per device by term (see the module docstring) and what they were computed for."""

    terms: dict[str, int]
    devices: int
    processes: int
    mesh: tuple[int, int]
    tokens_per_device: int
    notes: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""

    @property
    def per_device(self) -> int:
        """Total bytes on one device (the runtime term counted once per process)."""
        return sum(v for k, v in self.terms.items() if k != "runtime") + self.terms["runtime"]

    @property
    def per_process(self) -> int:
        """Host bytes of one process holding ``devices / processes`` devices (CPU devices share
        the host's memory; the runtime term counts once)."""
        local = max(1, self.devices // self.processes)
        return local * (self.per_device - self.terms["runtime"]) + self.terms["runtime"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": dict(self.terms),
            "per_device": self.per_device,
            "per_process": self.per_process,
            "devices": self.devices,
            "processes": self.processes,
            "mesh": {"data": self.mesh[0], "fsdp": self.mesh[1]},
            "tokens_per_device": self.tokens_per_device,
            "notes": list(self.notes),
            "description": self.description,
        }

    def to_markdown(self) -> str:
        """A table of the terms (GiB per device and share of the total) and the totals."""
        total = self.per_device
        lines = [
            f"{self.description}".strip(),
            "",
            f"mesh data={self.mesh[0]} x fsdp={self.mesh[1]} ({self.devices} devices, "
            f"{self.processes} process(es)), {self.tokens_per_device} tokens per device",
            "",
            "| term | GiB per device | share |",
            "|---|---:|---:|",
        ]
        for name in TERMS:
            v = self.terms[name]
            lines.append(f"| {name} | {gib(v):.3f} | {100 * v / max(total, 1):.1f} % |")
        lines.append(f"| **total per device** | **{gib(total):.3f}** | 100 % |")
        if self.devices > self.processes:
            lines.append(f"| total per process (host) | {gib(self.per_process):.3f} | |")
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines).strip() + "\n"

    def check(self, max_bytes: int, *, per: str = "process") -> None:
        """Raise :class:`MemoryBudgetError` (with the breakdown and the largest term) when the
        ``per`` (``process`` | ``device``) total exceeds ``max_bytes``."""
        need = self.per_process if per == "process" else self.per_device
        if need <= max_bytes:
            return
        biggest = max(TERMS, key=lambda k: self.terms[k])
        raise MemoryBudgetError(
            f"estimated memory {gib(need):.2f} GiB per {per} exceeds the budget "
            f"{gib(max_bytes):.2f} GiB (largest term: {biggest}, {gib(self.terms[biggest]):.2f} "
            f"GiB). Options: model.param_dtype=bfloat16, train.remat=layer, "
            f"train.scan_layers=true (widened weights), a smaller train.loss_chunk or "
            f"data.batch_size, more parallel.fsdp devices; or raise "
            f"--max-memory.\n\n{self.to_markdown()}"
        )


def estimate_memory(
    cfg: LlamaConfig,
    *,
    batch_size: int,
    seq_len: int,
    dtype: Any = "float32",
    param_dtype: Any = None,
    adapters: Sequence[AdapterModule] = (),
    training: bool = True,
    remat: str = "none",
    loss_chunk: int = 256,
    grad_accum: int = 1,
    scan: bool = False,
    platform: str = "cpu",
    data: int = 1,
    fsdp: int = 1,
    processes: int = 1,
    runtime_bytes: int = RUNTIME_BYTES,
    description: str = "",
) -> MemoryPlan:
    """The :class:`MemoryPlan` of one training step (shapes only; see the module docstring).

    ``batch_size`` × ``seq_len`` is the global batch; it is split over ``data · fsdp`` devices
    when divisible (else over ``data``), as :func:`qtn.nn.sharding.batch_sharding` does.
    ``training=False`` plans a forward pass only (evaluation of a run without adapter).
    ``platform``: the JAX backend the step runs on (``cpu``, ``gpu``, ``tpu``): on ``cpu``
    16-bit dots run in float32.
    """
    c = np.dtype(_np_dtype(dtype)).itemsize
    devices = data * fsdp
    split = devices if batch_size % devices == 0 else data
    rows = max(1, batch_size // split)
    n = rows * seq_len
    L, d, f, V = cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    H, K, D = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim

    p = np.dtype(_np_dtype(param_dtype or dtype)).itemsize
    base, layer_elements = _base_bytes(cfg, param_dtype or dtype, fsdp)
    trainable = sum(m.trainable for m in adapters)
    frozen_adapter = sum(m.frozen_bytes for m in adapters)

    # intermediates kept for the backward pass, per layer (see llama.py)
    scores = rows * H * seq_len * seq_len * (4 + 4 + c)  # fp32 scores, probs, probs cast
    attn = n * (2 * d * c + 4 + (H + 2 * K) * D * c + (H + K) * D * c + H * D * c) + scores
    mlp = n * (2 * d * c + 4 + 4 * f * c)
    # the width weights are used at in matmuls: XLA:CPU runs 16-bit dots in float32
    w = 4 if platform == "cpu" and c < 4 else c
    # one layer's weights gathered from the fsdp shards and / or widened to the dot width
    widen = layer_elements * ((w if p != w else 0) + (p if fsdp > 1 else 0))
    if scan and training:
        widened_all = L * layer_elements * p
    elif p != w and remat != "none" and training:
        widened_all = L * layer_elements * w
    else:
        widened_all = 0
    if p != w:  # the embedding table and the head, widened whole where they are used
        widened_all += V * d * w * (1 if cfg.tie_word_embeddings else 2)
    work = sum(m.work_bytes for m in adapters)
    per_layer = attn + mlp + widen + work // max(L, 1)
    residual = n * d * c
    if remat not in ("none", "layer", "attention_mlp"):
        raise ValueError(f"remat must be none, layer or attention_mlp, got {remat!r}")
    if not training:
        acts = per_layer
    elif remat == "none":
        acts = L * per_layer
    elif remat == "layer":
        acts = L * residual + 2 * per_layer
    else:
        acts = 2 * L * residual + 2 * (max(attn, mlp) + widen + work // max(L, 1))
    acts += 2 * n * d * 4  # embedding output and the fp32 gradient flowing back

    loss_rows = n
    if loss_chunk and loss_chunk > 0:
        rows_at_once = min(loss_chunk, loss_rows)
        logits = 3 * rows_at_once * V * 4 + (loss_rows * d * c if training else 0)
    else:
        logits = (3 if training else 1) * loss_rows * V * 4 + (loss_rows * V * c if c != 4 else 0)
    if not training:
        trainable = 0

    terms = {
        "base_params": base,
        "adapter_params": trainable * 4 + frozen_adapter,
        "gradients": trainable * 4 * (2 if grad_accum > 1 else 1),
        "optimizer": 2 * trainable * 4,
        "activations": int(acts),
        "widened_weights": int(widened_all),
        "logits": int(logits),
        "runtime": int(runtime_bytes),
    }
    notes = [
        f"compute {np.dtype(_np_dtype(dtype)).name}, base weights "
        f"{np.dtype(_np_dtype(param_dtype or dtype)).name}, remat {remat}"
        f"{', layers scanned' if scan else ''}, "
        f"loss_chunk {loss_chunk} ({'full logits' if not loss_chunk else 'chunked head'})",
        f"{len(adapters)} adapted modules, {trainable:,} trainable params (float32)",
    ]
    if batch_size % devices and devices > 1:
        notes.append(f"batch {batch_size} not divisible by {devices} devices: split over data")
    if w != c:
        notes.append(f"on {platform}, {np.dtype(_np_dtype(dtype)).name} matmuls run in float32: "
                     "the weights are widened to float32 where they are used")
    return MemoryPlan(
        terms, devices, processes, (data, fsdp), n, tuple(notes), description=description
    )


def _base_bytes(cfg: LlamaConfig, param_dtype: Any, fsdp: int) -> tuple[int, int]:
    """(bytes of all frozen weights per device, number of weights of one decoder layer), from
    an ``nnx.eval_shape`` skeleton and the sharding rules. The decoder layers are identical, so
    a one-layer skeleton is built and its layer counted ``num_hidden_layers`` times."""
    from flax import nnx

    from qtn.models.random_init import abstract_llama
    from qtn.nn.sharding import logical_spec

    one = dataclasses.replace(cfg, num_hidden_layers=1)
    model = abstract_llama(one, param_dtype=_np_dtype(param_dtype))
    total, layer_bytes, layer_size = 0, 0, 0
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        value = var.get_value()
        size = math.prod(value.shape)
        nbytes = size * np.dtype(value.dtype).itemsize
        spec = logical_spec(var.get_metadata().get("axes"))
        if fsdp > 1 and "fsdp" in tuple(spec):
            nbytes //= fsdp
        total += nbytes
        if path[0] == "layers":
            layer_bytes += nbytes
            layer_size += size
    return total + (cfg.num_hidden_layers - 1) * layer_bytes, layer_size


def parse_size(text: str | int | float) -> int:
    """``"12GiB"``, ``"24G"``, ``"512MB"``, ``"1.5e9"`` or a number -> bytes (binary units:
    K/M/G/T = 2^10.. whatever the suffix's ``i`` / ``B``).

    Raises:
        ValueError: naming the text and the accepted forms.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        return int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kmgtKMGT]?)(?:i?[bB])?\s*",
                     str(text))
    if not m:
        raise ValueError(
            f"memory size {text!r}: expected a number of bytes or e.g. '12GiB', '24G', '512MB'"
        )
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def machine_memory() -> int:
    """Physical memory of this machine in bytes (cgroup limit if lower)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def gib(nbytes: int | float) -> float:
    return nbytes / 2**30


def _np_dtype(dtype: Any) -> Any:
    import jax.numpy as jnp

    return jnp.dtype(dtype)
