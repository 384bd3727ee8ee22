"""A percentile bootstrap interval: one definition for every figure the suite reports with its uncertainty."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": round(self.value, 4), "low": round(self.low, 4), "high": round(self.high, 4)}


def percentile_interval(value: float, samples: list[float], level: float = LEVEL) -> Interval:
    """`value` with the `level` percentile interval of its bootstrap `samples` (non-finite draws ignored)."""
    tail = 100 * (1 - level) / 2
    finite = [s for s in samples if np.isfinite(s)]
    if not finite:
        return Interval(value, float("nan"), float("nan"))
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(value, float(low), float(high))
