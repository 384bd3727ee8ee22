"""Logits -> calibrated probabilities -> the labels the planner acts on; shared by serving and evaluation.

Kept apart from `base` (serving) and `evaluate` (judging) so both depend on it and neither on the other.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.classify.datasets import POLARITY_OF_TONE
from bot.classify.version import ModelConfig
from bot.coach.models import Classification, Prediction
from bot.labels import COMPLAINTS, TONES

Probabilities = dict[str, np.ndarray]


def calibrated_probs(logits: dict[str, np.ndarray], config: ModelConfig) -> Probabilities:
    """Softmax with each head's temperature, then tone sharpened toward the polarity head's verdict."""
    probs = {}
    for head, values in logits.items():
        z = values.astype(np.float64) / config.temperatures.get(head, 1.0)
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        probs[head] = (e / e.sum(1, keepdims=True)).astype(np.float32)
    if config.polarity_weight and "polarity" in probs:
        polarity = config.heads["polarity"]
        index = [polarity.index(POLARITY_OF_TONE[t]) for t in config.heads["tone"]]
        tone = probs["tone"] * probs["polarity"][:, index] ** config.polarity_weight
        probs["tone"] = tone / tone.sum(1, keepdims=True)
    return probs


@dataclass(frozen=True)
class Thresholds:
    unsure: float = 0.45
    abusive: float = 0.7


def decide(probs: Probabilities, thresholds: Thresholds) -> list[Classification]:
    """The classifier's decisions (label, confidence, unsure) for each row, language left to the caller."""
    out = []
    for row in range(len(probs["tone"])):
        preds = {}
        for head, labels in (("tone", TONES), ("complaint", COMPLAINTS)):
            index = int(probs[head][row].argmax())
            value, label = float(probs[head][row][index]), labels[index]
            needed = max(thresholds.abusive, thresholds.unsure) if label == "abusive" else thresholds.unsure
            preds[head] = Prediction(label=label, confidence=round(value, 4), unsure=value < needed)
        out.append(Classification(language="en", **preds))
    return out
