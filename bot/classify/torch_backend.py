"""The torch reference backend: the fine-tuned model in torch (training, evaluation, ONNX export check)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.classify.base import BaseClassifier
from bot.classify.e5_base import ensure_converted, load_tokenizer
from bot.classify.inputs import InputEncoder
from bot.classify.version import read_config


class TorchClassifier(BaseClassifier):
    def __init__(self, model, encoder: InputEncoder, **thresholds):
        super().__init__(model.config, **thresholds)
        self.model = model
        self.encoder = encoder

    @classmethod
    def load(cls, model_dir: Path, cache_dir: Path, threads: int | None = None, **thresholds) -> "TorchClassifier":
        """Args: a version folder, the cache the base model is converted into, torch threads, thresholds."""
        import torch

        from bot.classify.modeling import RecoveryModel

        if threads:
            torch.set_num_threads(threads)
        config = read_config(model_dir)
        base = ensure_converted(cache_dir / "base")
        model = RecoveryModel.load_version(model_dir, base, config)
        return cls(model, InputEncoder(load_tokenizer(base, config.max_tokens)), **thresholds)

    def logits(self, texts: list[str]) -> dict[str, np.ndarray]:
        from bot.classify.train import predict_logits

        return predict_logits(self.model, self.encoder, texts)
