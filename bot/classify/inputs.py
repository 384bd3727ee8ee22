"""Text -> model inputs, identical for training, the torch reference and the ONNX path (no torch import)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.classify.e5_base import QUERY_PREFIX
from bot.classify.normalize import normalize


@dataclass(frozen=True)
class Batch:
    input_ids: np.ndarray       # (n, width) int64, padded with pad_id
    attention_mask: np.ndarray  # (n, width) int64


class InputEncoder:
    """Normalise, add e5's "query: " prefix, tokenise, pad to the longest row of the batch."""

    def __init__(self, tokenizer, pad_id: int = 1):
        self.tokenizer = tokenizer
        self.pad_id = pad_id

    def ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch([QUERY_PREFIX + normalize(t) for t in texts])]

    def batch(self, texts: list[str]) -> Batch:
        return pad(self.ids(texts), self.pad_id)


def by_length(rows: list[list[int]], batch_size: int) -> list[list[int]]:
    """Row indices in batches of similar length (little padding); every caller scatters results back by index."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def pad(rows: list[list[int]], pad_id: int) -> Batch:
    width = max((len(r) for r in rows), default=0)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    return Batch(ids, mask)
