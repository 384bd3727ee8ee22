"""Text in, calibrated tone and complaint predictions out: the one entry point the planner needs.

Two interchangeable backends share the decision logic here: `Classifier` (torch, the reference, also
used for training and evaluation) and `OnnxClassifier` (onnxruntime, no torch import, the fast path).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.classify.config import HeadsConfig
from bot.classify.language import LanguageDetector
from bot.coach.models import Classification, Prediction


class BaseClassifier:
    config: HeadsConfig

    def __init__(self, config: HeadsConfig, unsure_threshold: float = 0.45,
                 detector: LanguageDetector | None = None, abusive_threshold: float = 0.7):
        self.config = config
        self.unsure_threshold = unsure_threshold
        # calling a customer abusive by mistake (boundary speech instead of an apology) costs far more
        # than missing it, so 'abusive' needs more confidence than any other label
        self.abusive_threshold = max(abusive_threshold, unsure_threshold)
        self.detector = detector or LanguageDetector()

    @property
    def version(self) -> str:
        return self.config.version

    def probabilities(self, texts: list[str]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def classify_many(self, texts: list[str]) -> list[Classification]:
        if not texts:
            return []
        probs = self.probabilities(texts)
        results = []
        for row, text in enumerate(texts):
            preds = {}
            for head in ("tone", "complaint"):
                index = int(probs[head][row].argmax())
                value, label = float(probs[head][row][index]), self.config.labels(head)[index]
                needed = self.abusive_threshold if label == "abusive" else self.unsure_threshold
                preds[head] = Prediction(label=label, confidence=round(value, 4), unsure=value < needed)
            results.append(Classification(language=self.detector.detect(text), **preds))
        return results

    def classify(self, text: str) -> Classification:
        return self.classify_many([text])[0]


class Classifier(BaseClassifier):
    """The torch reference backend."""

    def __init__(self, heads, encoder, unsure_threshold: float = 0.45, detector: LanguageDetector | None = None,
                 abusive_threshold: float = 0.7):
        super().__init__(heads.config, unsure_threshold, detector, abusive_threshold)
        self.heads = heads
        self.encoder = encoder

    @classmethod
    def load(cls, model_dir: Path, unsure_threshold: float = 0.45, threads: int | None = None,
             abusive_threshold: float = 0.7) -> "Classifier":
        import torch

        from bot.classify.encoder import SentenceEncoder
        from bot.classify.model import load_heads, resolve_model_dir

        if threads:
            torch.set_num_threads(threads)
        heads = load_heads(resolve_model_dir(model_dir))
        encoder = SentenceEncoder(expected_sha256=heads.config.encoder_sha256, layers=heads.config.encoder_layers)
        return cls(heads, encoder, unsure_threshold, abusive_threshold=abusive_threshold)

    def probabilities(self, texts: list[str]) -> dict[str, np.ndarray]:
        from bot.classify.pipeline import predict_probs

        return predict_probs(self.heads, self.encoder.encode, texts)
