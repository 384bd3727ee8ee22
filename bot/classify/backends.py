"""load_classifier(settings): the configured serving backend; the ONNX ones never import torch once exported."""
from __future__ import annotations

from bot.classify.base import BaseClassifier
from bot.classify.version import resolve_model_dir
from bot.settings import Settings


def load_classifier(settings: Settings) -> BaseClassifier:
    """The served version (COACH_MODEL_DIR, found in models/ or the model store) on COACH_BACKEND."""
    model_dir = resolve_model_dir(settings.coach_model_dir, settings.coach_model_store)
    thresholds = dict(unsure_threshold=settings.coach_unsure_threshold,
                      abusive_threshold=settings.coach_abusive_threshold)
    if settings.coach_backend == "torch":
        from bot.classify.torch_backend import TorchClassifier

        return TorchClassifier.load(model_dir, settings.coach_cache_dir, threads=settings.coach_inference_threads,
                                    **thresholds)
    from bot.classify.onnx_backend import OnnxClassifier

    return OnnxClassifier.load(model_dir, settings.coach_cache_dir, quantized=settings.coach_backend == "onnx-int8",
                               threads=settings.coach_inference_threads, **thresholds)
