"""Probabilities -> the decisions the planner needs; shared by every backend, imports none of them."""
from __future__ import annotations

import numpy as np

from bot.classify.decisions import Probabilities, Thresholds, calibrated_probs, decide
from bot.classify.language import LanguageDetector
from bot.classify.translit import model_text
from bot.classify.version import ModelConfig
from bot.coach.models import Classification


class BaseClassifier:
    """Text in, calibrated tone and complaint out: the one entry point the planner needs.

    Args:
        config: the served version's configuration (labels, temperatures, thresholds picked on the OOD suite).
        unsure_threshold / abusive_threshold: override the version's thresholds (settings); None keeps them.
    """

    def __init__(self, config: ModelConfig, unsure_threshold: float | None = None,
                 abusive_threshold: float | None = None, detector: LanguageDetector | None = None):
        self.config = config
        unsure = config.unsure_threshold if unsure_threshold is None else unsure_threshold
        abusive = config.abusive_threshold if abusive_threshold is None else abusive_threshold
        # calling a customer abusive by mistake (boundary speech instead of an apology) costs far more
        # than missing it, so 'abusive' needs more confidence than any other label
        self.thresholds = Thresholds(unsure=unsure, abusive=max(abusive, unsure))
        self.detector = detector or LanguageDetector()

    @property
    def version(self) -> str:
        return self.config.version

    def logits(self, texts: list[str]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def probabilities(self, texts: list[str]) -> Probabilities:
        """Calibrated probabilities per head ('tone', 'complaint', 'polarity'), one row per text."""
        if not texts:
            return {h: np.zeros((0, len(labels)), np.float32) for h, labels in self.config.heads.items()}
        return calibrated_probs(self.logits(texts), self.config)

    def classify_many(self, texts: list[str]) -> list[Classification]:
        """Args: texts. Returns: one Classification per text (label, confidence, unsure; language)."""
        if not texts:
            return []
        languages = [self.detector.detect(t) for t in texts]
        # Russian typed in Latin letters is read in Cyrillic, the script the encoder learned Russian from
        decisions = decide(self.probabilities([model_text(t, lang) for t, lang in zip(texts, languages)]),
                           self.thresholds)
        return [d.model_copy(update={"language": lang}) for d, lang in zip(decisions, languages)]

    def classify(self, text: str) -> Classification:
        return self.classify_many([text])[0]
