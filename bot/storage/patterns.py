"""Flag concentrations worth a look: one complaint type over-represented in one cell of one dimension.

For every dimension (hour-of-week, load band, product, region), every cell of it and every complaint
type, the count of that type in the cell is compared with what its overall share predicts, by a
one-sided exact binomial test (P[X >= k], X ~ Binomial(cell size, overall share)). With ~2,000 such
tests some would pass by chance, so the p-values are Bonferroni-corrected (multiplied by the number
of tests) and a flag also needs a minimum count and lift: a history with no real pattern then flags
nothing with probability at least 1 - alpha.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from scipy.stats import binom

from bot.storage.records import IncidentRecord

DIMENSIONS: dict[str, Callable[[IncidentRecord], str | None]] = {
    "hour_of_week": lambda r: r.hour_of_week_label,
    "load_band": lambda r: r.load_band,
    "product": lambda r: r.product,
    "region": lambda r: r.region,
}


@dataclass(frozen=True)
class Pattern:
    complaint: str
    dimension: str
    cell: str
    count: int          # incidents of this type in the cell
    cell_total: int     # all incidents in the cell
    expected: float     # cell_total x overall share of this type
    overall_share: float
    lift: float         # count / expected
    p_value: float      # one-sided binomial, before correction
    p_adjusted: float   # Bonferroni: p_value x tests, capped at 1

    def describe(self) -> str:
        return (f"{self.complaint} in {self.dimension.replace('_', '-')} '{self.cell}': {self.count} of "
                f"{self.cell_total} (expected {self.expected:.1f}, x{self.lift:.1f}, p={self.p_adjusted:.2g})")

    def to_dict(self) -> dict:
        return asdict(self)


def find_patterns(records: Sequence[IncidentRecord], alpha: float = 0.01, min_count: int = 5,
                  min_lift: float = 1.5) -> list[Pattern]:
    """Significant concentrations, strongest first."""
    total = len(records)
    if total == 0:
        return []
    overall = Counter(r.complaint for r in records)
    candidates: list[tuple[str, str, str, int, int, float]] = []
    tests = 0
    for dimension, key in DIMENSIONS.items():
        cells: dict[str, Counter[str]] = defaultdict(Counter)
        for record in records:
            value = key(record)
            if value is not None:
                cells[value][record.complaint] += 1
        if len(cells) < 2:
            continue  # one cell is the whole: nothing to contrast
        for cell, counts in cells.items():
            size = sum(counts.values())
            if size < min_count:
                continue  # no type can reach the minimum count here: not a test
            for complaint, complaint_total in overall.items():
                share = complaint_total / total
                if share >= 1.0:
                    continue
                tests += 1
                candidates.append((complaint, dimension, cell, counts[complaint], size, share))
    found = []
    for complaint, dimension, cell, count, size, share in candidates:
        expected = size * share
        if count < min_count or count < min_lift * expected:
            continue
        p_value = float(binom.sf(count - 1, size, share))
        p_adjusted = min(1.0, p_value * tests)
        if p_adjusted <= alpha:
            found.append(Pattern(complaint, dimension, cell, count, size, round(expected, 2), round(share, 4),
                                 round(count / expected, 2), p_value, p_adjusted))
    return sorted(found, key=lambda p: (p.p_value, -p.count))
