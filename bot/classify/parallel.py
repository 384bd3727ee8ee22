"""The same messages read in English and in translation: a language gap with what is said held fixed.

ru_goemotions is Reddit machine-translated into Russian, and each row keeps its English original (those GoEmotions
rows are never trained on: datasets marks them). Each held-out row is read twice, as translated and as written, and
both readings are scored the same way; the difference is what the language alone costs. The chat-line gaps
(evaluate.language_gaps) compare different sentences, all written by us; this one compares real text, sentence
for sentence. Our English chat lines, translated (chat_twins.py), are read the same way: the only same-sentence
gap on the complaint head. Rows are drawn in pairs for the interval (here, or in uncertainty.compare, where two
versions' gaps are set side by side on the same draws).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from bot.classify.decisions import Probabilities, Thresholds, decide
from bot.classify.datasets import Example
from bot.classify.evaluate import card_paths, group_of, score_group
from bot.classify.percentile import LEVEL, percentile_interval

# figures where higher is better are reported as (original − translated), the others as (translated − original):
# a positive gap always means the translation is read worse
HIGHER_IS_BETTER = ("tone_macro_f1", "polarity_macro_f1", "complaint_macro_f1", "is_complaint_f1")
LOWER_IS_BETTER = ("positive_apologised_rate", "upset_ignored_rate", "false_abusive_rate", "complaint_missed_rate")
PREFIX = "parallel:"  # headline figures (uncertainty.figures): parallel:<group>:<figure>, points behind


def behind(original: dict, translated: dict) -> dict[str, float]:
    """Points each figure is worse in translation than in the original language (absent where not scored)."""
    out = {}
    for figure in HIGHER_IS_BETTER + LOWER_IS_BETTER:
        if figure in original and figure in translated:
            sign = 1 if figure in HIGHER_IS_BETTER else -1
            out[figure] = 100 * sign * (original[figure] - translated[figure])
    return out


@dataclass(frozen=True)
class Reading:
    """One reading of some rows, decided once; `scored` rescores any draw of them."""
    rows: Sequence[Example]
    probs: Probabilities
    decisions: list
    paths: list[str]

    @classmethod
    def of(cls, rows: Sequence[Example], probs: Probabilities, thresholds: Thresholds) -> "Reading":
        decisions = decide(probs, thresholds)
        return cls(rows, probs, decisions, card_paths(rows, decisions))

    def scored(self, idx: np.ndarray) -> dict:
        return score_group([self.rows[i] for i in idx], {h: p[idx] for h, p in self.probs.items()},
                           [self.decisions[i] for i in idx], [self.paths[i] for i in idx])


@dataclass(frozen=True)
class Originals:
    """A version's reading of one group's English originals; `idx` are the translated rows' places in the suite."""
    idx: np.ndarray
    reading: Reading

    def behind(self, translated: Reading, local: np.ndarray) -> dict[str, float]:
        """Points the translation trails on the group's rows `local` (positions in the group, repeats kept)."""
        return behind(self.reading.scored(local), translated.scored(self.idx[local]))


def read_originals(judged: Sequence[Example], thresholds: Thresholds,
                   predict: Callable[[list[str]], Probabilities]) -> dict[str, Originals]:
    """Per held-out group whose rows keep an original: those originals read in English (`predict`: calibrated).

    Each original is read once: the three twin groups share their English lines, and a later group reads only the
    texts no earlier group did (group by group, so each group's own call is what it was alone)."""
    out = {}
    read: dict[str, dict[str, np.ndarray]] = {}  # original text -> its probabilities per head
    for group in sorted({group_of(e) for e in judged if e.original}):
        idx = np.array([i for i, e in enumerate(judged) if group_of(e) == group and e.original])
        originals = [replace(judged[i], text=judged[i].original, lang="en", original=None) for i in idx]
        new = list(dict.fromkeys(e.text for e in originals if e.text not in read))
        if new:
            probs = predict(new)
            read |= {text: {h: v[k] for h, v in probs.items()} for k, text in enumerate(new)}
        heads = read[originals[0].text]
        probs = {h: np.stack([read[e.text][h] for e in originals]) for h in heads}
        out[group] = Originals(idx, Reading.of(originals, probs, thresholds))
    return out


def gap_figures(translated: Reading, originals: dict[str, Originals], rows: np.ndarray | None = None
                ) -> dict[str, float]:
    """`parallel:<group>:<figure>`: points the translation trails, on the whole suite or on a draw of its rows.

    `translated` is the version's reading of the whole suite; a draw keeps the rows of each group it drew (with
    their repeats), and both readings are scored on exactly those rows."""
    out = {}
    for group, orig in originals.items():
        local = np.arange(len(orig.idx))
        if rows is not None:
            place = np.full(len(translated.rows), -1)
            place[orig.idx] = local
            local = place[rows]
            local = local[local >= 0]
        out |= {f"{PREFIX}{group}:{figure}": value for figure, value in orig.behind(translated, local).items()}
    return out


def parallel_report(translated: Reading, originals: dict[str, Originals], resamples: int = 0, seed: int = 13,
                    level: float = LEVEL) -> dict[str, dict]:
    """Per group: both readings' figures and how far the translation trails, with a paired interval."""
    out: dict[str, dict] = {}
    for group, orig in originals.items():
        everything = np.arange(len(orig.idx))
        original, trans = orig.reading.scored(everything), translated.scored(orig.idx)
        report = {"n": len(orig.idx), "language": translated.rows[int(orig.idx[0])].lang, "original": original,
                  "translated": trans, "behind": {k: round(v, 1) for k, v in behind(original, trans).items()}}
        if resamples > 0:
            rng = np.random.default_rng(seed)
            samples: dict[str, list[float]] = {k: [] for k in report["behind"]}
            for _ in range(resamples):
                draw = rng.choice(everything, size=len(everything), replace=True)  # the same rows in both readings
                for k, v in orig.behind(translated, draw).items():
                    samples[k].append(v)
            spread = {k: percentile_interval(report["behind"][k], v, level) for k, v in samples.items() if v}
            report["interval"] = {k: [round(i.low, 1), round(i.high, 1)] for k, i in spread.items()}
        out[group] = report
    return out
