"""Language balance of the complaint head, and thresholds picked on real text only (never on our chat lines)."""
from __future__ import annotations

import numpy as np

from bot.classify.datasets import Example
from bot.classify.evaluate import pick_settings, product_errors
from bot.classify.train import Targets, balance_languages
from bot.classify.version import ModelConfig
from bot.coach.models import Classification, Prediction
from bot.labels import COMPLAINTS, TONES


def test_balance_moves_weight_toward_equal_languages():
    langs = ["en"] * 6 + ["et"] * 2 + ["ru"] * 1
    targets = Targets(np.array([0] * 8 + [-1]), np.array([1.0] * 8 + [0.0], np.float32))
    off = balance_languages(targets, langs, 0.0)
    assert off.weight.tolist() == targets.weight.tolist()
    full = balance_languages(targets, langs, 1.0)
    en, et = full.weight[:6].sum(), full.weight[6:8].sum()
    assert abs(en - et) < 1e-5 and full.weight[8] == 0.0  # unlabelled rows stay out
    half = balance_languages(targets, langs, 0.5)
    assert et / en > 2 / 6 and half.weight[6:8].sum() < half.weight[:6].sum()  # between unchanged and equal


def _logits(rows: list[Example], abusive_score: list[float]) -> dict[str, np.ndarray]:
    tone = np.zeros((len(rows), len(TONES)), np.float32)
    tone[:, TONES.index("neutral")] = 1.0
    tone[:, TONES.index("abusive")] = abusive_score
    complaint = np.zeros((len(rows), len(COMPLAINTS)), np.float32)
    return {"tone": tone, "complaint": complaint}


def test_abusive_threshold_ignores_the_chat_lines():
    """Chat lines that look abusive at a low threshold must not raise it: only public text decides."""
    public = [Example(f"public {i}", "en", "neutral", None, "val", "goemotions") for i in range(200)]
    chat = [Example(f"chat {i}", "en", "neutral", "none", "val", "handwritten") for i in range(100)]
    rows = public + chat
    # public rows: never abusive-looking; chat rows: all score high on 'abusive' (logit 2.5 vs 1.0 neutral)
    logits = _logits(rows, [0.0] * 200 + [2.5] * 100)
    config = ModelConfig(version="t")
    picked = pick_settings(rows, logits, config, unsure=0.45)
    assert picked["abusive_threshold"] == 0.5  # the lowest on the grid: public text raises no false alarm


def _decision(tone: str, complaint: str) -> Classification:
    return Classification(language="en", tone=Prediction(label=tone, confidence=0.9),
                          complaint=Prediction(label=complaint, confidence=0.9))


def test_upset_messages_that_get_nothing_are_counted():
    """The watched counterweight: fewer apologies bought by ignoring upset customers must show."""
    rows = [Example("I am so fed up with all this", "en", "frustrated", None, "val", "goemotions"),
            Example("this makes me furious", "en", "angry", None, "val", "goemotions"),
            Example("я так переживаю", "ru", None, None, "val", "cedr", 0.0, 0.0, "negative", 1.0),
            Example("charged twice", "en", "angry", "billing", "val", "handwritten"),  # a complaint: not 'upset'
            Example("lovely, thanks", "en", "positive", None, "val", "goemotions")]
    decisions = [_decision("neutral", "none"), _decision("angry", "none"), _decision("neutral", "none"),
                 _decision("neutral", "none"), _decision("positive", "none")]
    errors = product_errors(rows, decisions)
    assert errors["n_upset"] == 3 and errors["upset_ignored_rate"] == 2 / 3
    assert errors["complaint_missed_rate"] == 1.0 and errors["positive_apologised_rate"] == 0.0
