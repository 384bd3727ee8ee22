"""Per-head metrics (macro-F1, calibration, coverage) over gold indices and probabilities; no data coupling."""
from __future__ import annotations

import numpy as np

ECE_BINS = 15


def per_class(gold: list[int], pred: list[int], n: int) -> list[dict[str, float]]:
    g, p = np.array(gold), np.array(pred)
    out = []
    for c in range(n):
        tp = float(((p == c) & (g == c)).sum())
        fp = float(((p == c) & (g != c)).sum())
        fn = float(((p != c) & (g == c)).sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append({"precision": precision, "recall": recall, "f1": f1, "support": int(tp + fn)})
    return out


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    if len(confidence) == 0:
        return 0.0
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (confidence > lo) & (confidence <= hi)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def coverage_curve(confidence: np.ndarray, correct: np.ndarray,
                   thresholds: tuple[float, ...] = (0.0, 0.3, 0.45, 0.6, 0.75, 0.9)) -> list[dict[str, float]]:
    rows = []
    for t in thresholds:
        kept = confidence >= t
        rows.append({"threshold": t, "coverage": float(kept.mean()) if len(kept) else 0.0,
                     "accuracy": float(correct[kept].mean()) if kept.any() else 0.0})
    return rows


def head_metrics(labels: list[str], gold: list[int], probs: np.ndarray) -> dict:
    pred = probs.argmax(1).tolist()
    classes = per_class(gold, pred, len(labels))
    present = [c for c in range(len(labels)) if classes[c]["support"] > 0]
    confidence = probs.max(1)
    correct = (np.array(pred) == np.array(gold)).astype(float)
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for g, p in zip(gold, pred):
        matrix[g, p] += 1
    return {
        "n": len(gold),
        "accuracy": float(correct.mean()) if len(gold) else 0.0,
        "macro_f1": float(np.mean([classes[c]["f1"] for c in present])) if present else 0.0,
        "ece": expected_calibration_error(confidence, correct),
        "per_class": {labels[c]: {k: round(v, 4) if isinstance(v, float) else v for k, v in classes[c].items()}
                      for c in present},
        "coverage": coverage_curve(confidence, correct),
        "confusion": matrix.tolist(),
    }
