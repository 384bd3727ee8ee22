"""The apology trade-off: a version that only sends fewer cards must not read as a better one."""
from __future__ import annotations

import numpy as np
import pytest

from bot.classify.datasets import Example
from bot.classify.decisions import Thresholds, decide
from bot.classify.evaluate import card_paths, product_errors
from bot.classify.tradeoff import UPSET_SCALES, curve, positive_at, scaled
from bot.classify.uncertainty import MATCHED, Verdicts, compare, matched
from bot.labels import COMPLAINTS, TONES

THRESHOLDS = Thresholds(unsure=0.45, abusive=0.7)


def _suite() -> list[Example]:
    """Clearly positive and clearly upset public rows (no complaint named), 300 of each."""
    rows = [Example(f"love it {i}", "en", "positive", None, "val", "goemotions") for i in range(300)]
    return rows + [Example(f"so fed up {i}", "en", "frustrated", None, "val", "goemotions") for i in range(300)]


def _probs(upset_mass: np.ndarray) -> dict[str, np.ndarray]:
    """Tone split between frustrated (`upset_mass`) and positive; complaint always a sure 'none'."""
    tone = np.zeros((len(upset_mass), len(TONES)), np.float32)
    tone[:, TONES.index("frustrated")] = upset_mass
    tone[:, TONES.index("positive")] = 1 - upset_mass
    complaint = np.full((len(upset_mass), len(COMPLAINTS)), 0.0, np.float32)
    complaint[:, COMPLAINTS.index("none")] = 1.0
    return {"tone": tone, "complaint": complaint}


def _model(separation: float, shift: float = 1.0) -> dict[str, np.ndarray]:
    """A version whose upset mass separates the two kinds of row by `separation` (logit units); `shift` only scales
    its upset tones, as a version that sends fewer cards would."""
    noise = np.random.default_rng(7).normal(0, 1.5, 600)  # the same rows' noise for every version
    logit = np.concatenate([-separation / 2 + noise[:300], separation / 2 + noise[300:]])
    mass = 1 / (1 + np.exp(-logit))
    return scaled(_probs(mass.astype(np.float32)), shift)


def test_scale_one_is_the_version_as_served():
    rows, probs = _suite(), _model(2.0)
    served = product_errors(rows, decide(probs, THRESHOLDS))
    upset, positive = curve(rows, probs, THRESHOLDS).served()
    assert upset == pytest.approx(served["upset_ignored_rate"])
    assert positive == pytest.approx(served["positive_apologised_rate"])


def test_likelier_upset_tones_send_more_cards_to_both_kinds_of_row():
    upset, positive = curve(_suite(), _model(2.0), THRESHOLDS).rates()
    assert np.all(np.diff(upset) <= 1e-9) and np.all(np.diff(positive) >= -1e-9)
    assert upset[0] > upset[-1] and positive[0] < positive[-1]


def test_positive_at_interpolates_and_refuses_off_the_curve():
    upset, positive = np.array([0.6, 0.5, 0.4]), np.array([0.1, 0.2, 0.3])
    assert positive_at(upset, positive, 0.45) == pytest.approx(0.25)
    assert positive_at(upset, positive, 0.5) == pytest.approx(0.2)
    assert np.isnan(positive_at(upset, positive, 0.7))


def test_a_shifted_decision_is_not_a_better_model_but_a_sharper_one_is():
    rows = _suite()
    base = _model(2.0)
    fewer_cards = scaled(base, 0.4)  # the same model, reluctant to read upset
    a, shifted = curve(rows, base, THRESHOLDS), curve(rows, fewer_cards, THRESHOLDS)
    assert shifted.served()[1] < a.served()[1] - 0.05  # raw positive → apology looks much better...
    assert shifted.served()[0] > a.served()[0] + 0.05  # ...because it ignores more upset customers
    at_a, at_shifted = matched(a, shifted)
    assert at_shifted == pytest.approx(at_a, abs=0.03)  # at the same upset → nothing: no better
    sharper = curve(rows, _model(4.0), THRESHOLDS)
    assert matched(a, sharper)[1] < at_a - 0.05


def test_compare_reports_the_matched_figure_with_a_paired_interval():
    rows = _suite()
    base = Verdicts.of(rows, _model(2.0), THRESHOLDS)
    sharper = Verdicts.of(rows, _model(4.0), THRESHOLDS)
    by_figure = {d.figure: d for d in compare(rows, base, sharper, resamples=200)}
    assert by_figure[MATCHED].verdict == "b better"
    itself = {d.figure: d for d in compare(rows, base, base, resamples=50)}[MATCHED]
    assert itself.delta.value == pytest.approx(0) and itself.verdict == "noise"
    assert MATCHED not in {d.figure for d in compare(rows, base, base, resamples=10, tradeoff=False)}


def test_the_scales_are_centred_on_the_served_decision():
    assert UPSET_SCALES[len(UPSET_SCALES) // 2] == pytest.approx(1.0)
    assert card_paths(_suite()[:1], decide(_probs(np.array([0.0], np.float32)), THRESHOLDS)) == ["nothing_to_fix"]


def test_a_suite_without_upset_rows_has_no_curve_and_says_so_in_json():
    import json

    rows = _suite()[:300]  # positive rows only
    probs = {h: v[:300] for h, v in _model(2.0).items()}
    c = curve(rows, probs, THRESHOLDS)
    record = json.loads(json.dumps(c.as_dict(), allow_nan=False))
    assert record["upset_ignored_rate"] == [None] * len(UPSET_SCALES)
    assert all(0 <= r <= 1 for r in record["positive_apologised_rate"])
    assert np.isnan(positive_at(*c.rates(), 0.5))
