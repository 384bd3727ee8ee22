"""How eager a version is to apologise: positive → apology against upset → nothing, along one knob.

Scaling the tone head's upset mass (angry + frustrated + anxious) and renormalising moves a version along a curve:
more upset customers get a card, and more happy ones get an apology too. A version can lower positive → apology just
by sitting further along its own curve, sending fewer cards (stop 18's weight soups did exactly that). Reading the
challenger's curve at the reference's upset → nothing tells a better model from a shifted decision.

The paths come from the product's own decisions (`decide`, then `card_paths`), so a point on the curve is what the
planner would do if that version's upset tones were that much likelier.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.classify.datasets import Example
from bot.classify.decisions import Probabilities, Thresholds, decide
from bot.classify.evaluate import NEGATIVE_TONES, card_paths, error_rows, is_error, pooled
from bot.labels import TONES

UPSET_SCALES = tuple(float(x) for x in np.geomspace(0.25, 4.0, 17))  # 1.0 (as served) is the middle one
POSITIVE, UPSET = "positive_apologised_rate", "upset_ignored_rate"


@dataclass(frozen=True)
class Curve:
    """Per scale, which clearly positive rows got an apology and which clearly upset rows got nothing."""
    scales: np.ndarray
    positive_rows: np.ndarray  # indices into the judged rows
    upset_rows: np.ndarray
    apologised: np.ndarray     # (len(positive_rows), len(scales)) bool
    ignored: np.ndarray        # (len(upset_rows), len(scales)) bool

    def rates(self, rows: np.ndarray | None = None, n_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(upset → nothing, positive → apology) per scale, on the whole suite or on one bootstrap draw of it
        (nan where the suite holds no such row)."""
        if rows is None:
            return _mean(self.ignored), _mean(self.apologised)
        counts = np.bincount(rows, minlength=n_rows or 0).astype(float)
        w_up, w_pos = counts[self.upset_rows], counts[self.positive_rows]
        return w_up @ self.ignored / max(w_up.sum(), 1.0), w_pos @ self.apologised / max(w_pos.sum(), 1.0)

    @property
    def served_index(self) -> int:
        """The step at scale 1: the version as served."""
        return int(np.argmin(np.abs(np.log(self.scales))))

    def served(self) -> tuple[float, float]:
        """(upset → nothing, positive → apology) at scale 1, the version as served."""
        upset, positive = self.rates()
        return float(upset[self.served_index]), float(positive[self.served_index])

    def as_dict(self) -> dict[str, list[float | None]]:
        """JSON-ready; a rate with no rows to count is None (JSON has no nan)."""
        upset, positive = self.rates()
        return {"upset_scale": [round(float(s), 4) for s in self.scales],
                UPSET: [_rounded(x) for x in upset], POSITIVE: [_rounded(x) for x in positive]}


def _mean(flags: np.ndarray) -> np.ndarray:
    return flags.mean(0) if len(flags) else np.full(flags.shape[1], np.nan)


def _rounded(x: float) -> float | None:
    return round(float(x), 4) if np.isfinite(x) else None


def scaled(probs: Probabilities, scale: float) -> Probabilities:
    """The tone head's upset tones made `scale` times likelier (then renormalised); other heads untouched."""
    tone = probs["tone"].astype(np.float64).copy()
    tone[:, [TONES.index(t) for t in NEGATIVE_TONES]] *= scale
    return {**probs, "tone": (tone / tone.sum(1, keepdims=True)).astype(np.float32)}


def curve(judged: Sequence[Example], probs: Probabilities, thresholds: Thresholds,
          scales: Sequence[float] = UPSET_SCALES) -> Curve:
    inside = set(pooled(judged))
    rows = {rate: [i for i in idx if i in inside] for rate, idx in error_rows(judged).items()}
    positive, upset = np.array(rows[POSITIVE], int), np.array(rows[UPSET], int)
    counted = np.concatenate([positive, upset])  # only these rows' paths matter: decide them alone, per scale
    texts, sub = [judged[i] for i in counted], {h: v[counted] for h, v in probs.items()}
    flags = np.zeros((len(counted), len(scales)), bool)
    rate = [POSITIVE] * len(positive) + [UPSET] * len(upset)
    for k, scale in enumerate(scales):
        paths = card_paths(texts, decide(scaled(sub, scale), thresholds))
        flags[:, k] = [is_error(r, path) for r, path in zip(rate, paths)]
    return Curve(np.array(scales, float), positive, upset, flags[:len(positive)], flags[len(positive):])


def positive_at(upset_rates: np.ndarray, positive_rates: np.ndarray, upset: float) -> float:
    """Positive → apology where the curve crosses this upset → nothing (linear between scales; nan off the curve).

    Upset → nothing falls as the scale grows; ties (flat stretches) keep the lowest positive → apology; a suite
    without upset or positive rows has no curve."""
    finite = np.isfinite(upset_rates) & np.isfinite(positive_rates)
    upset_rates, positive_rates = upset_rates[finite], positive_rates[finite]
    order = np.lexsort((positive_rates, upset_rates))
    x, y = upset_rates[order], positive_rates[order]
    x, first = np.unique(x, return_index=True)
    y = y[first]
    if len(x) == 0 or upset < x[0] - 1e-12 or upset > x[-1] + 1e-12:
        return float("nan")
    return float(np.interp(upset, x, y))
