"""Parameter table: exact trainable counts per adapted module, total, and the ratio to LoRA."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jax
from flax import nnx

from qtn.adapters.inject import adapter_layers
from qtn.nn.variables import AdapterParam


@dataclass(frozen=True)
class ParamRow:
    """One adapted module: ``trainable`` = its AdapterParam count, ``lora`` = LoRA's at rank r."""

    path: str
    kind: str
    in_features: int
    out_features: int
    trainable: int
    lora: int

    @property
    def ratio(self) -> float:
        return self.trainable / self.lora


@dataclass(frozen=True)
class ParamTable:
    """Rows plus totals. ``lora_rank`` is the rank the ``lora`` column is computed at;
    ``base_params`` counts every non-adapter parameter of the model (frozen)."""

    rows: tuple[ParamRow, ...]
    lora_rank: int
    base_params: int

    @property
    def trainable(self) -> int:
        return sum(r.trainable for r in self.rows)

    @property
    def lora(self) -> int:
        return sum(r.lora for r in self.rows)

    @property
    def ratio_to_lora(self) -> float:
        return self.trainable / self.lora if self.lora else float("nan")

    def to_dict(self) -> dict:
        return {
            "rows": [asdict(r) | {"ratio": r.ratio} for r in self.rows],
            "lora_rank": self.lora_rank,
            "trainable": self.trainable,
            "lora": self.lora,
            "ratio_to_lora": self.ratio_to_lora,
            "base_params": self.base_params,
        }

    def to_markdown(self) -> str:
        """A markdown table, one row per module and a total row."""
        r = self.lora_rank
        lines = [
            f"| module | layer | shape | trainable | LoRA r={r} | ratio |",
            "|---|---|---|---:|---:|---:|",
        ]
        for row in self.rows:
            lines.append(
                f"| {row.path} | {row.kind} | {row.in_features}x{row.out_features} "
                f"| {row.trainable:,} | {row.lora:,} | {row.ratio:.3f} |"
            )
        lines.append(
            f"| **total** | | | **{self.trainable:,}** | **{self.lora:,}** "
            f"| **{self.ratio_to_lora:.3f}** |"
        )
        return "\n".join(lines)


def param_table(model: nnx.Module, lora_rank: int = 8) -> ParamTable:
    """Count the trainable parameters of every adapter layer in ``model`` and compare each with
    LoRA at ``lora_rank`` (``r · (in + out)`` for the same module)."""
    rows = tuple(
        ParamRow(
            path=path,
            kind=type(layer).__name__,
            in_features=layer.in_features,
            out_features=layer.out_features,
            trainable=layer.num_trainable(),
            lora=lora_rank * (layer.in_features + layer.out_features),
        )
        for path, layer in adapter_layers(model)
    )
    return ParamTable(rows=rows, lora_rank=lora_rank, base_params=count_base_params(model))


def count_base_params(model: nnx.Module) -> int:
    """Number of scalars in ``nnx.Param`` variables that are not adapter parameters."""
    state = nnx.state(model, nnx.All(nnx.Param, nnx.Not(AdapterParam)))
    return int(sum(v.size for v in jax.tree.leaves(state)))
