"""NNX glue for layers that run circuits: the runner they call and the key stream they draw.

A :class:`CircuitLayer` holds a static :class:`~qtn.quantum.config.CircuitRunner` (executor +
gradient rule; default: exact with autodiff) and, when the runner samples, a *shared*
``nnx.Rngs`` with a ``shots`` stream: every call draws the next key from it, so the layers of
a model get distinct keys, a jitted training step carries the counter forward, and
checkpoints (which save ``nnx.RngState``) make a resumed run continue the same key stream.

:func:`configure_quantum` sets both on every circuit layer of a model, after checking that the
executor can run each layer's circuits (qubits, device coupling, readout) — before any
training starts — and names the module on failure.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from flax import nnx

from qtn.quantum.circuit import Circuit
from qtn.quantum.config import EXACT_RUNNER, CircuitRunner
from qtn.quantum.export import CircuitExport


class CircuitLayer(nnx.Module):
    """Mixin for adapter layers with circuits. Subclasses call ``_init_quantum()`` in
    ``__init__``, implement :meth:`circuits`, and get keys from :meth:`shot_key`."""

    runner: CircuitRunner
    shot_rngs: nnx.Rngs | None

    def _init_quantum(self) -> None:
        self.runner = EXACT_RUNNER
        # data, not a static attribute: configure_quantum may later put an nnx.Rngs here
        self.shot_rngs = nnx.data(None)

    def circuits(self) -> list[tuple[str, Circuit, int]]:
        """``(label, circuit template, circuits per forward per token-or-1)`` of every circuit
        this layer sends to its executor; the last item is ``0`` for a weight-space circuit
        (one evaluation per forward, whatever the batch) and ``1`` for a per-token circuit."""
        raise NotImplementedError

    def circuit_weights(self) -> dict[str, jax.Array]:
        """The current (trained) weights of each circuit, keyed by the labels of
        :meth:`circuits`: ``(circuit.n_weights,)`` each (for export and inspection)."""
        raise NotImplementedError

    def circuit_observables(self) -> dict[str, str]:
        """What each circuit's Z-basis counts become, keyed by the labels of :meth:`circuits`:
        ``probs`` (the basis-state probabilities; the default), ``expval`` (<Z^s> for every
        Z-string) or ``z`` (<Z_q> per qubit). Recorded by ``qtn export --circuits``."""
        return {label: "probs" for label, _, _ in self.circuits()}

    def check_runner(self, runner: CircuitRunner) -> None:
        """Raise ValueError if ``runner`` cannot run this layer's circuits."""
        for label, circuit, _ in self.circuits():
            try:
                runner.check(circuit)
            except ValueError as err:
                raise ValueError(f"{label}: {err}") from None

    def shot_key(self) -> jax.Array | None:
        """The next key of the shared ``shots`` stream (None when the runner needs none)."""
        if not self.runner.needs_key:
            return None
        if self.shot_rngs is None:
            raise ValueError(
                f"{type(self).__name__}: executor {self.runner.executor.name!r} samples but no "
                "key stream was set; call qtn.nn.quantum.configure_quantum(model, runner, seed)"
            )
        return self.shot_rngs.shots()


def circuit_layers(model: nnx.Module) -> list[tuple[str, CircuitLayer]]:
    """``(dotted path, layer)`` of every circuit layer in ``model``."""
    return [
        (".".join(str(p) for p in path), m)
        for path, m in nnx.iter_modules(model)
        if isinstance(m, CircuitLayer)
    ]


def configure_quantum(model: nnx.Module, runner: CircuitRunner, seed: int = 0) -> list[str]:
    """Give every circuit layer ``runner`` and one shared ``shots`` key stream seeded by
    ``seed``. Checks every layer first (nothing changes on error; the message names the
    module). Returns the configured paths."""
    layers = circuit_layers(model)
    for path, layer in layers:
        try:
            layer.check_runner(runner)
        except ValueError as err:
            raise ValueError(f"module {path}: {err}") from None
    shared = nnx.Rngs(shots=seed) if runner.needs_key else None
    for _, layer in layers:
        layer.runner = runner
        # None is a static attribute; the shared key stream is data (checkpointed with the
        # model's RNG state)
        layer.shot_rngs = nnx.data(shared) if shared is not None else None
    return [p for p, _ in layers]


def circuit_exports(model: nnx.Module) -> list[CircuitExport]:
    """Every trained circuit of the model's circuit layers, for
    :func:`qtn.quantum.export.export_circuits` (``qtn export --circuits``)."""
    items = []
    for path, layer in circuit_layers(model):
        weights = layer.circuit_weights()
        observables = layer.circuit_observables()
        for label, circuit, per_token in layer.circuits():
            items.append(CircuitExport(
                module=path,
                label=label,
                circuit=circuit,
                weights=np.asarray(weights[label], np.float64),
                per_token=bool(per_token),
                observable=observables.get(label, "probs"),
            ))
    return items


def quantum_summary(model: nnx.Module) -> list[dict[str, Any]]:
    """One row per circuit of the model: module, label, qubits, weights, inputs, gates."""
    rows = []
    for path, layer in circuit_layers(model):
        for label, circuit, per_token in layer.circuits():
            rows.append(
                {
                    "module": path,
                    "circuit": label,
                    "qubits": circuit.n_qubits,
                    "weights": circuit.n_weights,
                    "inputs": circuit.n_inputs,
                    "gates": len(circuit.gates),
                    "two_qubit_gates": circuit.two_qubit_gates(),
                    "per_token": bool(per_token),
                }
            )
    return rows
