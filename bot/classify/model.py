"""Trainable heads on top of the frozen encoder, and how a model version is saved and loaded.

A model version is a folder `models/<version>/` with `heads.safetensors` (a few MB), `config.json`
(labels, sizes, temperatures, the encoder's sha256) and `metrics.json`; `models/CURRENT` names the
version the bot serves, so versions sit side by side and switching back is one line.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn
import torch

from bot.classify.config import EMBEDDING_DIM, HeadsConfig, read_config, resolve_model_dir
from bot.classify.linear import LinearHeads


class RecoveryHeads(nn.Module):
    """Sentence embedding + bag of hashed char n-grams -> shared layer -> tone and complaint logits.

    With `wide`, each head also gets a linear layer straight from the n-gram buckets (wide & deep):
    for Russian, Chinese and Estonian, where the English encoder says little, a per-n-gram vote is what
    carries the label (a char-n-gram logistic regression alone scored 0.80-0.89 macro-F1 there while
    the deep path scored 0.44-0.70).
    """

    def __init__(self, config: HeadsConfig):
        super().__init__()
        self.config = config
        self.linear: LinearHeads | None = None  # the fused tf-idf half (not a torch module: numpy, fitted apart)
        self.ngrams = nn.EmbeddingBag(config.buckets, config.ngram_dim, mode="sum")
        nn.init.normal_(self.ngrams.weight, std=0.05)  # unseen buckets should add little noise
        self.trunk = nn.Sequential(
            nn.Linear(EMBEDDING_DIM + config.ngram_dim, config.hidden), nn.GELU(), nn.Dropout(config.dropout)
        )
        self.tone = nn.Linear(config.hidden, len(config.tones))
        self.complaint = nn.Linear(config.hidden, len(config.complaints))
        if config.idf:
            self.register_buffer("ngram_idf", torch.ones(config.buckets))
        if config.wide:
            self.wide_tone = nn.EmbeddingBag(config.buckets, len(config.tones), mode="sum")
            self.wide_complaint = nn.EmbeddingBag(config.buckets, len(config.complaints), mode="sum")
            nn.init.zeros_(self.wide_tone.weight)
            nn.init.zeros_(self.wide_complaint.weight)

    def idf(self) -> list[float] | None:
        """The idf table as a list (what the feature code indexes); fixed once trained or loaded."""
        if not self.config.idf:
            return None
        if getattr(self, "_idf_list", None) is None:
            self._idf_list = self.ngram_idf.tolist()
        return self._idf_list

    def forward(self, embeddings: torch.Tensor, ngram_ids: torch.Tensor, ngram_offsets: torch.Tensor,
                ngram_weights: torch.Tensor, idf_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        bag = self.ngrams(ngram_ids, ngram_offsets, per_sample_weights=ngram_weights)
        hidden = self.trunk(torch.cat([embeddings, bag], dim=1))
        out = {"tone": self.tone(hidden), "complaint": self.complaint(hidden)}
        if self.config.wide:
            out["tone"] = out["tone"] + self.wide_tone(ngram_ids, ngram_offsets, per_sample_weights=ngram_weights)
            out["complaint"] = out["complaint"] + self.wide_complaint(
                ngram_ids, ngram_offsets, per_sample_weights=ngram_weights if idf_weights is None else idf_weights)
        return out


def save_heads(model: RecoveryHeads, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    for name in ("ngrams.weight", "wide_tone.weight", "wide_complaint.weight", "ngram_idf"):
        if name in state:  # the big tables: fp16 keeps a version small
            state[name] = state[name].half()
    save_file(state, str(directory / "heads.safetensors"))
    if model.linear is not None:
        model.linear.save(directory)
    (directory / "config.json").write_text(json.dumps(asdict(model.config), indent=2) + "\n")


def load_heads(directory: Path) -> RecoveryHeads:
    config = read_config(directory)
    model = RecoveryHeads(config)
    state = load_file(str(directory / "heads.safetensors"))
    state = {name: tensor.float() for name, tensor in state.items()}
    model.load_state_dict(state)
    model.linear = LinearHeads.load(directory) if config.linear else None
    model.eval()
    return model


__all__ = ["HeadsConfig", "RecoveryHeads", "load_heads", "resolve_model_dir", "save_heads"]
