"""Split a dimension into N integer factors (the MPO's physical leg sizes)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


def _non_decreasing_factorizations(d: int, n: int, lo: int):
    """All tuples f_1 <= ... <= f_n with f_1 >= lo, each >= 2, and prod == d."""
    if n == 1:
        if d >= lo:
            yield (d,)
        return
    f = lo
    while f**n <= d:
        if d % f == 0:
            for rest in _non_decreasing_factorizations(d // f, n - 1, f):
                yield (f, *rest)
        f += 1


def factorize(d: int, n: int, factors: Sequence[int] | None = None) -> tuple[int, ...]:
    """Factor ``d`` into ``n`` integers >= 2 (or check user-given ``factors``).

    Balanced first (smallest largest factor, then smallest spread of log-sizes), then fewest
    non-power-of-two factors. Non-power-of-two factors are placed at the *first* sites so that
    inner MPO cores keep power-of-two legs and stay replaceable by circuits:
    ``factorize(576, 3) == (9, 8, 8)``, ``factorize(512, 3) == (8, 8, 8)``.
    """
    if factors is not None:
        factors = tuple(int(f) for f in factors)
        if math.prod(factors) != d or any(f < 1 for f in factors):
            raise ValueError(f"factors {factors} do not multiply to {d}")
        if n is not None and len(factors) != n:
            raise ValueError(f"factors {factors} has {len(factors)} entries, expected {n}")
        return factors
    if n < 1:
        raise ValueError(f"number of factors must be >= 1, got {n}")
    if d < 1:
        raise ValueError(f"dimension must be >= 1, got {d}")
    if n == 1:
        return (d,)
    candidates = list(_non_decreasing_factorizations(d, n, 2))
    if not candidates:
        raise ValueError(f"dimension {d} cannot be split into {n} factors >= 2")
    mean = math.log(d) / n

    def score(fs: tuple[int, ...]):
        spread = sum((math.log(f) - mean) ** 2 for f in fs)
        return (max(fs), sum(not is_power_of_two(f) for f in fs), spread)

    best = min(candidates, key=score)
    odd = sorted(f for f in best if not is_power_of_two(f))
    pow2 = sorted((f for f in best if is_power_of_two(f)), reverse=True)
    return (*odd, *pow2)
