"""Device models: qubit count, coupling graph, native gates and noise figures.

Shipped (:func:`get_device`):

- ``ideal``: unlimited all-to-all qubits, no noise.
- ``linear(n)`` (name ``linear{n}``, e.g. ``linear8``): n qubits on a line, no noise.
- ``wukong72``: Origin Wukong's 72 computational qubits on a 12 x 6 grid (126 nearest-
  neighbour edges = its 126 couplers). The grid is *inferred* from the published qubit count,
  coupler count and qubit pairs, not an official coupling map. Native gates U3 + CZ. Default
  noise is what Origin's own LLM fine-tuning code (QLLM-peft, ``qpeft_vqc.py``, backend
  ``vqnet_noisy``) used for its noisy simulation: depolarizing 0.01 per U3, 0.1 per CZ,
  readout confusion [[0.95, 0.05], [0.10, 0.90]]; override any figure with
  ``dataclasses.replace(device, noise=...)`` or the run config's ``quantum.noise``.

Noise conventions (``NoiseSpec``): a depolarizing parameter ``l`` acts as
``rho -> (1 - l) rho + l Tr_q(rho) (x) I/2`` on each qubit a gate touches (qiskit's and
pyqpanda3's single-qubit convention; pyqpanda3 applies a single-qubit error attached to a CZ
to both of its qubits independently, and so does qtn); amplitude / phase damping ``g`` per
gate and touched qubit with the usual Kraus pairs; ``readout[i][j]`` = P(read j | state i).

A circuit is placed on a device by :meth:`Device.layout`: an embedding of the circuit's
two-qubit interaction graph into the coupling graph (no SWAPs), found by VF2 monomorphism.
qtn's own noisy simulation runs only embeddable circuits (chains, even rings, brickwork all
embed in a grid), and so do the local SDK noise models (``qtn.quantum.pyqpanda_executor``,
``qtn.quantum.qiskit_executor``: the same native circuit); routing with SWAPs is counted by a
real transpiler for the bill (``qtn.quantum.routing``) and done by the chip's own compiler on
Origin's cloud.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass

import networkx as nx

from qtn.quantum.circuit import Circuit

READOUT_PERFECT = ((1.0, 0.0), (0.0, 1.0))


@dataclass(frozen=True)
class NoiseSpec:
    """Gate and readout error figures (see the module docstring for the conventions)."""

    depolarizing_1q: float = 0.0
    depolarizing_2q: float = 0.0
    amplitude_damping: float = 0.0
    phase_damping: float = 0.0
    readout: tuple[tuple[float, float], tuple[float, float]] = READOUT_PERFECT

    def __post_init__(self):
        for name in ("depolarizing_1q", "depolarizing_2q", "amplitude_damping", "phase_damping"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"noise.{name} must be a probability in [0, 1], got {value!r}")
        ro = tuple(tuple(float(v) for v in row) for row in self.readout)
        if len(ro) != 2 or any(len(r) != 2 for r in ro):
            raise ValueError(f"noise.readout must be a 2x2 matrix, got {self.readout!r}")
        if any(v < 0 for r in ro for v in r) or any(abs(sum(r) - 1) > 1e-9 for r in ro):
            raise ValueError(
                f"noise.readout rows must be probabilities summing to 1 (P(read j | state i)), "
                f"got {self.readout!r}"
            )
        object.__setattr__(self, "readout", ro)

    @property
    def noiseless(self) -> bool:
        return (
            self.depolarizing_1q == self.depolarizing_2q == 0.0
            and self.amplitude_damping == self.phase_damping == 0.0
            and self.readout == READOUT_PERFECT
        )


@dataclass(frozen=True)
class Device:
    """A QPU model. ``edges=None``: all-to-all coupling; ``n_qubits=None``: unlimited."""

    name: str
    n_qubits: int | None
    edges: tuple[tuple[int, int], ...] | None
    native_gates: tuple[str, ...] = ("u3", "cz")
    noise: NoiseSpec = NoiseSpec()

    def graph(self) -> nx.Graph | None:
        if self.edges is None:
            return None
        g = nx.Graph()
        g.add_nodes_from(range(self.n_qubits or 0))
        g.add_edges_from(self.edges)
        return g

    def check(self, circuit: Circuit) -> None:
        """Raise ValueError naming circuit and device if the circuit needs more qubits than the
        device has, or its two-qubit interactions do not embed in the coupling graph."""
        if self.n_qubits is not None and circuit.n_qubits > self.n_qubits:
            raise ValueError(
                f"circuit {circuit.name} needs {circuit.n_qubits} qubits but device "
                f"{self.name} has {self.n_qubits}"
            )
        if self.layout(circuit) is None:
            raise ValueError(
                f"circuit {circuit.name}'s two-qubit gates {sorted(interaction_edges(circuit))} "
                f"do not embed in device {self.name}'s coupling graph without SWAPs; noisy "
                "simulation (qtn's noisy executor, and pyqpanda3's / qiskit-aer's local noise "
                "models, which run the same native circuit) takes embeddable circuits only "
                "(Origin's cloud backend routes on the chip; or choose a circuit whose "
                "two-qubit gates fit the coupling graph, e.g. an even ring or a chain)"
            )

    def layout(self, circuit: Circuit) -> tuple[int, ...] | None:
        """Physical qubit of each circuit qubit with every two-qubit gate on a coupler, or
        None if there is none (all-to-all devices: the identity)."""
        return _layout(self, circuit)


def interaction_edges(circuit: Circuit) -> set[tuple[int, int]]:
    """The circuit's two-qubit gate pairs as sorted tuples."""
    return {tuple(sorted(g.qubits)) for g in circuit.gates if len(g.qubits) == 2}


@functools.lru_cache(maxsize=256)
def _layout(device: Device, circuit: Circuit) -> tuple[int, ...] | None:
    if device.n_qubits is not None and circuit.n_qubits > device.n_qubits:
        return None
    graph = device.graph()
    if graph is None:
        return tuple(range(circuit.n_qubits))
    pattern = nx.Graph()
    pattern.add_nodes_from(range(circuit.n_qubits))
    pattern.add_edges_from(interaction_edges(circuit))
    matcher = nx.algorithms.isomorphism.GraphMatcher(graph, pattern)
    for mapping in matcher.subgraph_monomorphisms_iter():  # device node -> circuit qubit
        inverse = {q: p for p, q in mapping.items()}
        return tuple(inverse[q] for q in range(circuit.n_qubits))
    return None


def grid_edges(rows: int, cols: int) -> tuple[tuple[int, int], ...]:
    """Nearest-neighbour edges of a rows x cols grid, qubit r*cols + c."""
    edges = []
    for r in range(rows):
        for c in range(cols):
            q = r * cols + c
            if c + 1 < cols:
                edges.append((q, q + 1))
            if r + 1 < rows:
                edges.append((q, q + cols))
    return tuple(edges)


WUKONG_NOISE = NoiseSpec(
    depolarizing_1q=0.01, depolarizing_2q=0.1, readout=((0.95, 0.05), (0.10, 0.90))
)
IDEAL = Device("ideal", None, None)


def wukong72(noise: NoiseSpec = WUKONG_NOISE) -> Device:
    """Origin Wukong (see module docstring: the 12 x 6 grid is inferred, not official)."""
    return Device("wukong72", 72, grid_edges(12, 6), ("u3", "cz"), noise)


def linear(n: int, noise: NoiseSpec = NoiseSpec()) -> Device:
    """n qubits on a line."""
    if n < 1:
        raise ValueError(f"linear(n) needs n >= 1, got {n}")
    return Device(f"linear{n}", n, tuple((q, q + 1) for q in range(n - 1)), ("u3", "cz"), noise)


DEVICE_NAMES = ("ideal", "linear<n>", "wukong72")


def get_device(name: str, noise: NoiseSpec | None = None) -> Device:
    """``ideal``, ``linear<n>`` (e.g. ``linear8``) or ``wukong72``; ``noise`` replaces the
    device's default noise figures."""
    match = re.fullmatch(r"linear(\d+)", name)
    if name == "ideal":
        device = IDEAL
    elif name == "wukong72":
        device = wukong72()
    elif match:
        device = linear(int(match.group(1)))
    else:
        raise ValueError(f"unknown device {name!r}; choose from {DEVICE_NAMES}")
    return device if noise is None else dataclasses.replace(device, noise=noise)
