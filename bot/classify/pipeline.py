"""Train a model version from the corpus and evaluate it: what `coach train` / `coach eval` run."""
from __future__ import annotations

import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from bot.classify.datasets import Example, read_corpus
from bot.classify.encoder import SentenceEncoder
from bot.classify.evaluation import evaluate, plot_confusion
from bot.classify.linear import fuse
from bot.classify.model import RecoveryHeads, load_heads, save_heads
from bot.classify.training import EmbeddingCache, TrainOptions, batched_logits, train_heads, write_json


def predict_probs(model: RecoveryHeads, embed, texts: list[str]) -> dict[str, np.ndarray]:
    """Calibrated probabilities per head: the neural logits fused with the linear half's (or temperature-scaled)."""
    if not texts:
        return {h: np.zeros((0, len(model.config.labels(h))), dtype=np.float32) for h in ("tone", "complaint")}
    logits = batched_logits(model, torch.from_numpy(embed(texts)), texts)
    linear = model.linear.logits(texts) if model.linear is not None else None
    return fuse({h: v.numpy() for h, v in logits.items()}, linear, model.config.fusion, model.config.temperatures)


def train_version(examples: list[Example], models_dir: Path, options: TrainOptions,
                  cache_dir: Path | None = None, encoder: SentenceEncoder | None = None) -> Path:
    started = time.perf_counter()
    encoder = encoder or SentenceEncoder(layers=options.encoder_layers)
    embed = EmbeddingCache(encoder.encode, layer_cache(cache_dir, options.encoder_layers))
    model, stats = train_heads(examples, embed, options)
    directory = models_dir / options.version
    save_heads(model, directory)
    write_json(directory / "training.json", {
        "version": options.version,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "options": {k: v for k, v in vars(options).items() if k != "progress"},
        "stats": stats,
        "torch": torch.__version__,
        "python": platform.python_version(),
    })
    return directory


def layer_cache(cache_dir: Path | None, layers: int) -> Path | None:
    """Embeddings depend on how many encoder layers made them: one cache folder per depth."""
    if cache_dir is None:
        return None
    return cache_dir if layers == 6 else cache_dir / f"layers{layers}"


def evaluate_version(directory: Path, examples: list[Example], cache_dir: Path | None = None,
                     encoder: SentenceEncoder | None = None, plots: bool = True, backend: str = "torch") -> dict:
    """Score the 'val' split; the torch backend writes metrics.json + PNGs, the ONNX ones metrics-<backend>.json."""
    model = load_heads(directory)
    val = [e for e in examples if e.split == "val"]
    texts = [e.text for e in val]
    if backend == "torch":
        encoder = encoder or SentenceEncoder(expected_sha256=model.config.encoder_sha256,
                                             layers=model.config.encoder_layers)
        probs = predict_probs(model, EmbeddingCache(encoder.encode, layer_cache(cache_dir, encoder.layers)), texts)
    else:
        from bot.classify.onnx_backend import OnnxClassifier

        probs = OnnxClassifier.load(directory, quantized=backend == "onnx-int8").probabilities(texts)
    labels = {"tone": model.config.tones, "complaint": model.config.complaints}
    report = evaluate(val, probs, labels)
    name = "metrics.json" if backend == "torch" else f"metrics-{backend}.json"
    write_json(directory / name, {"version": model.config.version, "backend": backend,
                                  "validation_rows": len(val), "heads": report})
    plots = plots and backend == "torch"
    if plots:
        for head, by_lang in report.items():
            for lang, metrics in by_lang.items():
                plot_confusion(metrics["confusion"], labels[head], f"{head} ({lang}, n={metrics['n']})",
                               directory / f"confusion_{head}_{lang}.png")
    return report


def load_corpus(path: Path) -> list[Example]:
    if not path.is_file():
        raise FileNotFoundError(f"corpus {path} not found: run `coach data build` first")
    return read_corpus(path)
