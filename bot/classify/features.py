"""Hashed character n-grams: the multilingual half of the model.

The pip-available encoder is English-only; character n-grams give the heads direct evidence in
Russian, Chinese and Estonian (and typos, profanity, emoji) at almost no cost.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

NGRAM_RANGE = (1, 4)
DIGITS = re.compile(r"\d")
SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = DIGITS.sub("0", text)
    return " " + SPACES.sub(" ", text).strip() + " "


def ngram_ids(text: str, buckets: int) -> dict[int, float]:
    norm = normalise(text)
    counts: dict[int, float] = {}
    lo, hi = NGRAM_RANGE
    for n in range(lo, hi + 1):
        for start in range(0, max(len(norm) - n + 1, 0)):
            gram = norm[start : start + n]
            if n == 1 and gram == " ":
                continue
            key = zlib.crc32(f"{n}:{gram}".encode()) % buckets
            counts[key] = counts.get(key, 0.0) + 1.0
    return counts


def ngram_features(text: str, buckets: int) -> tuple[list[int], list[float]]:
    """Bucket ids and weights of one text (sublinear tf, L2-normalised)."""
    counts = ngram_ids(text, buckets)
    if not counts:
        return [], []
    scaled = {k: 1.0 + (v - 1.0) ** 0.5 for k, v in counts.items()}
    norm = sum(v * v for v in scaled.values()) ** 0.5
    return list(scaled), [v / norm for v in scaled.values()]


def pack(features: list[tuple[list[int], list[float]]]) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
    """EmbeddingBag inputs (flat ids, offsets, per-id weights) from per-text features."""
    import torch

    ids: list[int] = []
    weights: list[float] = []
    offsets: list[int] = []
    for text_ids, text_weights in features:
        offsets.append(len(ids))
        ids.extend(text_ids)
        weights.extend(text_weights)
    return (
        torch.tensor(ids, dtype=torch.long),
        torch.tensor(offsets, dtype=torch.long),
        torch.tensor(weights, dtype=torch.float32),
    )


def ngram_batch(texts: list[str], buckets: int) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
    return pack([ngram_features(text, buckets) for text in texts])
