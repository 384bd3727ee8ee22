"""Honest metrics on data never used for training: per head, per language, with calibration."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from bot.classify.datasets import Example

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


def evaluate(examples: list[Example], probs: dict[str, np.ndarray], labels: dict[str, list[str]]) -> dict:
    """Metrics for each head over all languages ('all') and for each language."""
    report: dict[str, dict] = {}
    for head, head_labels in labels.items():
        index = {label: i for i, label in enumerate(head_labels)}
        rows = defaultdict(list)
        for i, e in enumerate(examples):
            label = getattr(e, head)
            if label and getattr(e, f"{head}_w") >= 1.0 and label in index:
                rows["all"].append(i)
                rows[e.lang].append(i)
                if e.source == "handwritten":  # support-chat style lines written for validation
                    rows[f"chat-{e.lang}"].append(i)
        report[head] = {
            lang: head_metrics(head_labels, [index[getattr(examples[i], head)] for i in idx], probs[head][idx])
            for lang, idx in sorted(rows.items())
        }
    return report


def plot_confusion(matrix: list[list[int]], labels: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.array(matrix, dtype=float)
    keep = [i for i in range(len(labels)) if m[i].sum() or m[:, i].sum()]
    m = m[np.ix_(keep, keep)]
    names = [labels[i] for i in keep]
    norm = m / np.clip(m.sum(1, keepdims=True), 1, None)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(names), 0.8 + 0.5 * len(names)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(names)):
        for j in range(len(names)):
            if m[i, j]:
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_table(report: dict) -> list[tuple[str, str, int, float, float, float]]:
    rows = []
    for head, by_lang in report.items():
        for lang, m in by_lang.items():
            rows.append((head, lang, m["n"], m["macro_f1"], m["accuracy"], m["ece"]))
    return rows
