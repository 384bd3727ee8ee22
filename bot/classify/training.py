"""Train the heads reproducibly: fixed seed, deterministic split, progress bar, temperature calibration.

The encoder stays frozen, so embeddings are computed once per text (and cached on disk by text hash),
then the small heads train in seconds per epoch on a laptop CPU.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from bot.classify.datasets import Example
from bot.classify.features import idf_weights, inverse_document_frequency, ngram_batch, ngram_features, pack
from bot.classify.linear import fit_linear_heads
from bot.classify.model import HeadsConfig, RecoveryHeads
from bot.labels import HEADS



@dataclass
class TrainOptions:
    version: str
    epochs: int = 14
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    calib_fraction: float = 0.08
    seed: int = 13
    buckets: int = 1 << 15
    ngram_dim: int = 64
    hidden: int = 256
    wide: bool = True
    idf: bool = True
    idf_power: float = 1.0
    encoder_layers: int = 2  # v10: depths 1-4 score alike on validation, and 2 halves the encoder time of 4
    ngram_lr_scale: float = 20.0  # rare n-gram rows get few Adam steps: they need a far larger step size
    embedding_dropout: float = 0.0  # share of rows whose sentence embedding is blanked, so n-grams learn alone
    linear: bool = True  # fit the tf-idf logistic regression half and fuse it on the calibration rows
    linear_c: float = 10.0  # its inverse L2 strength
    word_scale: float = 1.0  # weight of the word-gram block next to the char-gram block
    progress: bool = True


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


class EmbeddingCache:
    """Memoises encoder output per text on disk, so retraining after a data edit only encodes new lines."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], directory: Path | None = None):
        self.encode = encode
        self.directory = directory

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def __call__(self, texts: list[str]) -> np.ndarray:
        if self.directory is None or not texts:
            return self.encode(texts)
        keys_path, matrix_path = self.directory / "keys.json", self.directory / "vectors.npy"
        keys: list[str] = json.loads(keys_path.read_text()) if keys_path.is_file() else []
        matrix = np.load(matrix_path) if matrix_path.is_file() and keys else np.zeros((0, 0), np.float32)
        position = {k: i for i, k in enumerate(keys)}
        wanted = [self._key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in wanted if k not in position))
        if missing:
            first = {k: t for k, t in zip(wanted, texts)}
            fresh = self.encode([first[k] for k in missing])
            matrix = fresh if matrix.size == 0 else np.concatenate([matrix, fresh])
            for k in missing:
                position[k] = len(keys)
                keys.append(k)
            self.directory.mkdir(parents=True, exist_ok=True)
            np.save(matrix_path, matrix)
            keys_path.write_text(json.dumps(keys))
        return matrix[[position[k] for k in wanted]]


def _targets(examples: list[Example], labels: dict[str, list[str]]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    out = {}
    for head in HEADS:
        index = {label: i for i, label in enumerate(labels[head])}
        y = [index.get(getattr(e, head), -100) if getattr(e, head) else -100 for e in examples]
        w = [getattr(e, f"{head}_w") if getattr(e, head) else 0.0 for e in examples]
        out[head] = (torch.tensor(y, dtype=torch.long), torch.tensor(w, dtype=torch.float32))
    return out


def _class_weights(y: torch.Tensor, n: int) -> torch.Tensor:
    counts = torch.bincount(y[y >= 0], minlength=n).float().clamp(min=1)
    weights = counts.pow(-0.5)
    return weights / (weights * counts).sum() * counts.sum()


def split_train_calib(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    train = [e for e in examples if e.split == "train"]
    rng = random.Random(seed)
    order = list(range(len(train)))
    rng.shuffle(order)
    n_calib = int(len(train) * fraction)
    calib_idx = set(order[:n_calib])
    return [e for i, e in enumerate(train) if i not in calib_idx], [e for i, e in enumerate(train) if i in calib_idx]


def batched_logits(model: RecoveryHeads, emb: torch.Tensor, texts: list[str], batch: int = 512
                   ) -> dict[str, torch.Tensor]:
    """Raw logits per head for many texts, in batches (evaluation mode, no gradients)."""
    model.eval()
    parts: dict[str, list[torch.Tensor]] = {h: [] for h in HEADS}
    idf = model.idf()
    with torch.inference_mode():
        for s in range(0, len(texts), batch):
            ids, offsets, weights, weighted = ngram_batch(texts[s : s + batch], model.config.buckets, idf)
            out = model(emb[s : s + batch], ids, offsets, weights, weighted)
            for h in HEADS:
                parts[h].append(out[h])
    return {h: torch.cat(parts[h]) if parts[h] else torch.zeros(0) for h in HEADS}


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Temperature scaling (Guo et al. 2017) on held-out calibration logits."""
    mask = y >= 0
    if mask.sum() < 10:
        return 1.0
    logits, y = logits[mask], y[mask]
    log_t = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(logits / log_t.exp(), y)
        loss.backward()
        return loss

    optimiser.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))


def fit_fusion(neural: torch.Tensor, linear: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Weights a, b of a * log p_neural + b * log p_linear minimising held-out log loss (a stacked
    temperature): the better half gets the larger weight, and the sum sets how sharp the result is."""
    mask = y >= 0
    if mask.sum() < 10:
        return [0.5, 0.5]
    parts = [nn.functional.log_softmax(neural[mask], -1), nn.functional.log_softmax(linear[mask], -1)]
    y = y[mask]
    log_w = torch.full((2,), math.log(0.5), requires_grad=True)
    optimiser = torch.optim.LBFGS([log_w], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        w = log_w.exp()
        loss = nn.functional.cross_entropy(w[0] * parts[0] + w[1] * parts[1], y)
        loss.backward()
        return loss

    optimiser.step(closure)
    return [round(float(v), 6) for v in log_w.detach().exp().clamp(0.0, 20.0)]


def train_heads(examples: list[Example], embed: Callable[[list[str]], np.ndarray], options: TrainOptions
                ) -> tuple[RecoveryHeads, dict[str, float]]:
    set_seed(options.seed)
    train, calib = split_train_calib(examples, options.calib_fraction, options.seed)
    if not train:
        raise ValueError("no training examples (split == 'train')")
    config = HeadsConfig(version=options.version, buckets=options.buckets, ngram_dim=options.ngram_dim,
                         hidden=options.hidden, seed=options.seed, wide=options.wide, idf=options.idf,
                         encoder_layers=options.encoder_layers)
    labels = {"tone": config.tones, "complaint": config.complaints}
    model = RecoveryHeads(config)
    train_texts, calib_texts = [e.text for e in train], [e.text for e in calib]
    idf = None
    if config.idf:
        idf = inverse_document_frequency(train_texts, config.buckets, options.idf_power)
        model.ngram_idf.copy_(torch.tensor(idf))
    train_grams = [ngram_features(t, config.buckets) for t in train_texts]  # once, not every epoch
    train_weighted = [idf_weights(ids, w, idf) for ids, w in train_grams] if idf is not None else None
    train_emb = torch.from_numpy(embed(train_texts))
    calib_emb = torch.from_numpy(embed(calib_texts)) if calib else torch.zeros(0, train_emb.shape[1])
    targets, calib_targets = _targets(train, labels), _targets(calib, labels)
    class_w = {h: _class_weights(targets[h][0], len(labels[h])) for h in HEADS}
    tables = [p for name, p in model.named_parameters() if name.startswith(("ngrams.", "wide_"))]
    dense = [p for name, p in model.named_parameters() if not name.startswith(("ngrams.", "wide_"))]
    ngram_lr = options.lr * options.ngram_lr_scale
    optimiser = torch.optim.AdamW([
        {"params": dense, "lr": options.lr, "weight_decay": options.weight_decay},
        {"params": tables, "lr": ngram_lr, "weight_decay": 0.0},
    ])
    steps = options.epochs * ((len(train) + options.batch_size - 1) // options.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=[options.lr, ngram_lr], total_steps=max(steps, 1))
    generator = torch.Generator().manual_seed(options.seed)
    best_state, best_loss = None, float("inf")
    bar = tqdm(total=steps, desc="training heads", unit="batch", disable=not options.progress)
    for epoch in range(options.epochs):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        for s in range(0, len(train), options.batch_size):
            idx = order[s : s + options.batch_size]
            ids, offsets, weights, weighted = pack(
                [train_grams[i] for i in idx], [train_weighted[i] for i in idx] if train_weighted else None)
            emb = train_emb[idx]
            if options.embedding_dropout:
                keep = torch.rand(len(idx), 1, generator=generator) >= options.embedding_dropout
                emb = emb * keep
            out = model(emb, ids, offsets, weights, weighted)
            loss = torch.zeros(())
            for h in HEADS:
                y, w = targets[h][0][idx], targets[h][1][idx]
                per = nn.functional.cross_entropy(out[h], y.clamp(min=0), weight=class_w[h], reduction="none")
                per = per * w * (y >= 0)
                loss = loss + per.sum() / w.sum().clamp(min=1.0)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
        if calib:
            logits = batched_logits(model, calib_emb, calib_texts)
            calib_loss = sum(
                nn.functional.cross_entropy(logits[h][calib_targets[h][0] >= 0],
                                            calib_targets[h][0][calib_targets[h][0] >= 0]).item()
                for h in HEADS if (calib_targets[h][0] >= 0).any()
            )
            if calib_loss < best_loss:
                best_loss = calib_loss
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    temperatures = {h: 1.0 for h in HEADS}
    stats = {"calibration_loss": best_loss}
    if calib:
        logits = batched_logits(model, calib_emb, calib_texts)
        temperatures = {h: fit_temperature(logits[h], calib_targets[h][0]) for h in HEADS}
    config.temperatures = temperatures
    if options.linear:
        model.linear = fit_linear_heads(train, labels, options.linear_c, options.word_scale)
        config.linear = True
        if calib:
            linear_logits = model.linear.logits(calib_texts)
            config.fusion = {h: fit_fusion(logits[h], torch.from_numpy(linear_logits[h]), calib_targets[h][0])
                             for h in HEADS}
        else:
            config.fusion = {h: [0.5, 0.5] for h in HEADS}
        stats.update({f"fusion_{h}": w for h, w in config.fusion.items()})
    config.trained_on = {"train": len(train), "calibration": len(calib)}
    model.eval()
    return model, {**stats, **{f"temperature_{h}": t for h, t in temperatures.items()}}


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
