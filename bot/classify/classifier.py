"""Text in, calibrated tone and complaint predictions out: the one entry point the planner needs."""
from __future__ import annotations

from pathlib import Path

import torch

from bot.classify.encoder import SentenceEncoder
from bot.classify.features import ngram_batch
from bot.classify.language import LanguageDetector
from bot.classify.model import RecoveryHeads, load_heads, resolve_model_dir
from bot.coach.models import Classification, Prediction


class Classifier:
    def __init__(self, heads: RecoveryHeads, encoder: SentenceEncoder, unsure_threshold: float = 0.45,
                 detector: LanguageDetector | None = None, abusive_threshold: float = 0.7):
        self.heads = heads
        self.encoder = encoder
        self.unsure_threshold = unsure_threshold
        # calling a customer abusive by mistake (boundary speech instead of an apology) costs far more
        # than missing it, so 'abusive' needs more confidence than any other label
        self.abusive_threshold = max(abusive_threshold, unsure_threshold)
        self.detector = detector or LanguageDetector()

    @classmethod
    def load(cls, model_dir: Path, unsure_threshold: float = 0.45, threads: int | None = None,
             abusive_threshold: float = 0.7) -> "Classifier":
        if threads:
            torch.set_num_threads(threads)
        heads = load_heads(resolve_model_dir(model_dir))
        encoder = SentenceEncoder(expected_sha256=heads.config.encoder_sha256)
        return cls(heads, encoder, unsure_threshold, abusive_threshold=abusive_threshold)

    @property
    def version(self) -> str:
        return self.heads.config.version

    @torch.inference_mode()
    def probabilities(self, texts: list[str]) -> dict[str, torch.Tensor]:
        embeddings = torch.from_numpy(self.encoder.encode(texts))
        ids, offsets, weights = ngram_batch(texts, self.heads.config.buckets)
        logits = self.heads(embeddings, ids, offsets, weights)
        temps = self.heads.config.temperatures
        return {head: torch.softmax(value / temps.get(head, 1.0), dim=-1) for head, value in logits.items()}

    def classify_many(self, texts: list[str]) -> list[Classification]:
        if not texts:
            return []
        probs = self.probabilities(texts)
        config = self.heads.config
        results = []
        for row, text in enumerate(texts):
            preds = {}
            for head in ("tone", "complaint"):
                confidence, index = probs[head][row].max(dim=-1)
                value, label = float(confidence), config.labels(head)[int(index)]
                needed = self.abusive_threshold if label == "abusive" else self.unsure_threshold
                preds[head] = Prediction(label=label, confidence=round(value, 4), unsure=value < needed)
            results.append(Classification(language=self.detector.detect(text), **preds))
        return results

    def classify(self, text: str) -> Classification:
        return self.classify_many([text])[0]
