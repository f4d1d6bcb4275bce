"""CostReport: what a contraction plan costs, from cotengra's own tree numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import cotengra as ctg


@dataclass(frozen=True)
class TreeCost:
    """cotengra's numbers for one tree. flops = multiply-adds (``tree.total_flops()``);
    peak_size = elements alive at the worst moment, inputs included (``tree.peak_size()``);
    width = log2 of the largest intermediate (``tree.contraction_width()``)."""

    flops: int
    peak_size: int
    width: float
    total_write: int

    @classmethod
    def of(cls, tree: ctg.ContractionTree) -> TreeCost:
        return cls(
            int(tree.total_flops()),
            int(tree.peak_size()),
            float(tree.contraction_width()),
            int(tree.total_write()),
        )


def combine(costs: Sequence[TreeCost]) -> TreeCost:
    """Steps run one after another: flops / write add, peak and width are the max."""
    return TreeCost(
        sum(c.flops for c in costs),
        max(c.peak_size for c in costs),
        max(c.width for c in costs),
        sum(c.total_write for c in costs),
    )


@dataclass(frozen=True)
class CostReport:
    """Cost of ``y = x @ T(theta)`` for one plan. ``*_materialise`` fields: the alternative of
    contracting the parameter network into dense W (d_in, d_out) first and then ``x @ W``."""

    strategy: str
    batch: int
    d_in: int
    d_out: int
    log10_flops: float
    flops: int
    peak_size: int
    peak_bytes: int
    width: float
    total_write: int
    trainable_params: int
    dense_params: int
    path_search_s: float
    log10_flops_materialise: float
    peak_size_materialise: int

    @property
    def compression(self) -> float:
        """dense_params / trainable_params."""
        return self.dense_params / max(self.trainable_params, 1)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_markdown(self) -> str:
        rows = [
            ("strategy", self.strategy),
            ("x", f"({self.batch}, {self.d_in}) -> ({self.batch}, {self.d_out})"),
            ("log10 FLOPs (multiply-adds)", f"{self.log10_flops:.3f}"),
            ("peak size (elements)", f"{self.peak_size:,}"),
            ("peak bytes", f"{self.peak_bytes:,}"),
            ("width (log2 largest intermediate)", f"{self.width:.1f}"),
            ("total write (elements)", f"{self.total_write:,}"),
            ("trainable params", f"{self.trainable_params:,}"),
            ("dense-equivalent params", f"{self.dense_params:,} ({self.compression:.1f}x)"),
            ("path search (s)", f"{self.path_search_s:.3f}"),
            ("materialise dW then matmul: log10 FLOPs", f"{self.log10_flops_materialise:.3f}"),
            ("materialise dW then matmul: peak size", f"{self.peak_size_materialise:,}"),
        ]
        lines = ["| quantity | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in rows]
        return "\n".join(lines)


def log10(n: float) -> float:
    return math.log10(max(n, 1))
