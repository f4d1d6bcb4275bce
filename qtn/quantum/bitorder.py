"""Bit order: the one place qtn's convention meets the SDKs'.

qtn: qubit 0 is the **most** significant bit of a basis-state index (``|q0 q1 ... q_{n-1}>``,
quimb's order). qiskit and pyqpanda3: qubit 0 is the **least** significant bit, and their
count keys are bit strings with qubit 0 as the **rightmost** character. Circuits are exported
with the same qubit labels (qtn's qubit q is the SDK's qubit q); only probability vectors and
count keys are reordered, here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def reverse_bits_permutation(n: int) -> np.ndarray:
    """``perm[k]`` = index k with its n bits reversed (an involution)."""
    k = np.arange(2**n)
    out = np.zeros_like(k)
    for q in range(n):
        out |= ((k >> q) & 1) << (n - 1 - q)
    return out


def little_to_qtn(probs: np.ndarray) -> np.ndarray:
    """An SDK's probability vector(s) (..., 2^n), qubit 0 least significant -> qtn order."""
    n = probs.shape[-1].bit_length() - 1
    return np.asarray(probs)[..., reverse_bits_permutation(n)]


def counts_to_qtn_probs(counts: Mapping[str, float], n: int) -> np.ndarray:
    """SDK counts (or probabilities) keyed by bit strings, qubit 0 the rightmost character ->
    normalised probabilities (2^n,) in qtn order. Hex keys (``0x..``) are accepted."""
    out = np.zeros(2**n)
    for key, value in counts.items():
        bits = format(int(key, 16), f"0{n}b") if key.startswith("0x") else key.replace(" ", "")
        if len(bits) != n:
            raise ValueError(f"count key {key!r} has {len(bits)} bits, expected {n}")
        out[int(bits[::-1], 2)] += float(value)  # reversed string: qubit 0 first = MSB
    total = out.sum()
    if total <= 0:
        raise ValueError("counts are empty")
    return out / total
