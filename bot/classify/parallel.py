"""The same messages read in English and in translation: a language gap with what is said held fixed.

ru_goemotions is Reddit machine-translated into Russian, and each row keeps its English original (those GoEmotions
rows are never trained on: datasets marks them). Each held-out row is read twice, as translated and as written, and
both readings are scored the same way; the difference is what the language alone costs. The chat-line gaps
(evaluate.language_gaps) compare different sentences, all written by us; this one compares real text, sentence
for sentence, and its rows are drawn in pairs for the interval.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from bot.classify.decisions import Probabilities, Thresholds, decide
from bot.classify.datasets import Example
from bot.classify.evaluate import card_paths, group_of, score_group
from bot.classify.uncertainty import LEVEL, percentile_interval

# figures where higher is better are reported as (original − translated), the others as (translated − original):
# a positive gap always means the translation is read worse
HIGHER_IS_BETTER = ("tone_macro_f1", "polarity_macro_f1")
LOWER_IS_BETTER = ("positive_apologised_rate", "upset_ignored_rate", "false_abusive_rate")


def behind(original: dict, translated: dict) -> dict[str, float]:
    """Points each figure is worse in translation than in the original language (absent where not scored)."""
    out = {}
    for figure in HIGHER_IS_BETTER + LOWER_IS_BETTER:
        if figure in original and figure in translated:
            sign = 1 if figure in HIGHER_IS_BETTER else -1
            out[figure] = 100 * sign * (original[figure] - translated[figure])
    return out


def _scored(rows: Sequence[Example], probs: Probabilities, decisions: list, paths: list[str],
            idx: np.ndarray) -> dict:
    return score_group([rows[i] for i in idx], {h: p[idx] for h, p in probs.items()},
                       [decisions[i] for i in idx], [paths[i] for i in idx])


def parallel_report(judged: Sequence[Example], probs: Probabilities, thresholds: Thresholds,
                    predict: Callable[[list[str]], Probabilities], resamples: int = 0, seed: int = 13,
                    level: float = LEVEL) -> dict[str, dict]:
    """Per held-out group whose rows keep an original: both readings' figures and how far the translation trails.

    `probs` are the suite's (already computed for `judged`); `predict` reads the originals."""
    out: dict[str, dict] = {}
    groups = sorted({group_of(e) for e in judged if e.original})
    for group in groups:
        idx = [i for i, e in enumerate(judged) if group_of(e) == group and e.original]
        translated = [judged[i] for i in idx]
        originals = [replace(e, text=e.original, lang="en", original=None) for e in translated]
        t_probs = {h: p[idx] for h, p in probs.items()}
        o_probs = predict([e.text for e in originals])
        readings = []
        for rows, p in ((originals, o_probs), (translated, t_probs)):
            decisions = decide(p, thresholds)
            readings.append((rows, p, decisions, card_paths(rows, decisions)))
        everything = np.arange(len(idx))
        original, trans = (_scored(*r, everything) for r in readings)
        report = {"n": len(idx), "language": translated[0].lang, "original": original, "translated": trans,
                  "behind": {k: round(v, 1) for k, v in behind(original, trans).items()}}
        if resamples > 0:
            rng = np.random.default_rng(seed)
            samples: dict[str, list[float]] = {k: [] for k in report["behind"]}
            for _ in range(resamples):
                draw = rng.choice(everything, size=len(everything), replace=True)  # the same rows in both readings
                for k, v in behind(_scored(*readings[0], draw), _scored(*readings[1], draw)).items():
                    samples[k].append(v)
            spread = {k: percentile_interval(report["behind"][k], v, level) for k, v in samples.items() if v}
            report["interval"] = {k: [round(i.low, 1), round(i.high, 1)] for k, i in spread.items()}
        out[group] = report
    return out
