"""Is a figure, or a gain between two versions, more than the luck of which rows the suite holds?

A percentile bootstrap: the suite's rows are drawn again within each group, so every group keeps its size (a
held-out source never grows at another's expense), and the labelled threads are drawn again whole, within each
language (a thread's messages are read together by the thread rule, so they are not independent). Two versions are
compared *paired*: both are rescored on the same draws, so rows both get right or both get wrong cancel out, and
the interval is that of the difference.

What it cannot see: training noise. A second seed of the same recipe moves some figures by more than these
intervals (model card, "seed spread"); a trial has to clear both.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.classify.base import BaseClassifier
from bot.classify.decisions import Probabilities, Thresholds
from bot.classify.datasets import Example
from bot.classify.evaluate import GOALS, WATCHED, group_of, pooled, suite_report
from bot.classify.labelled_threads import LabelledThread, thread_paths, thread_rates
from bot.classify.parallel import PREFIX as PARALLEL, Originals, Reading, gap_figures, read_originals
from bot.classify.percentile import LEVEL, Interval, percentile_interval
from bot.classify.tradeoff import Curve, curve, positive_at
from bot.coach.models import Classification

RESAMPLES = 1000  # about 55 s per version on the full suite (2 cores), 10 of them the same-sentence gap
THREAD_FIGURES = ("path_accuracy", "false_abusive_rate", "positive_apologised_rate", "complaint_missed_rate",
                  "abusive_missed_rate")


@dataclass(frozen=True)
class Verdicts:
    """One version's verdicts on the suite, computed once and reused by every resample."""
    thresholds: Thresholds
    probs: Probabilities
    decisions: list[Classification]
    paths: list[str]
    thread_paths: list[list[str]] = field(default_factory=list)  # per labelled thread (labelled_threads.thread_paths)
    originals: dict[str, Originals] = field(default_factory=dict)  # English originals read too (parallel.py)

    @classmethod
    def of(cls, judged: Sequence[Example], probs: Probabilities, thresholds: Thresholds,
           thread_paths: list[list[str]] | None = None, originals: dict[str, Originals] | None = None
           ) -> "Verdicts":
        suite = Reading.of(judged, probs, thresholds)  # decided and routed once, the same way as the originals
        return cls(thresholds, probs, suite.decisions, suite.paths, thread_paths or [], originals or {})

    def reading(self, judged: Sequence[Example]) -> Reading:
        """These verdicts as the translated side of parallel.py's gap."""
        return Reading(judged, self.probs, self.decisions, self.paths)


def judge(classifier: BaseClassifier, judged: Sequence[Example], threads: Sequence[LabelledThread] = (),
          probs: Probabilities | None = None) -> Verdicts:
    """A loaded classifier's verdicts on the suite's rows, on the labelled threads and on the English originals
    that some rows keep, at its own thresholds (`probs`: the rows' probabilities when already computed)."""
    probs = classifier.probabilities([e.text for e in judged]) if probs is None else probs
    return Verdicts.of(judged, probs, classifier.thresholds,
                       thread_paths(threads, classifier.classify_many) if threads else None,
                       read_originals(judged, classifier.thresholds, classifier.probabilities))


@dataclass(frozen=True)
class Draw:
    rows: np.ndarray     # suite row indices
    threads: np.ndarray  # labelled thread indices


def headline(report: dict) -> dict[str, float]:
    """The figures a version is judged by: held-out means, product error rates, language gaps (points)."""
    out = dict(report["summary"])
    out |= {k: v for k, v in report["product"].items() if k in GOALS or k in WATCHED}
    out |= {f"gap:{k}": v for k, v in report["language_gaps"].items()}
    return out


def lower_is_better(figure: str) -> bool:
    """Error rates and the points a language trails English; every other figure is a score."""
    return figure.endswith("_rate") or figure.startswith(("gap:", PARALLEL))


def _strata(keys: Sequence[str]) -> list[np.ndarray]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key].append(i)
    return [np.array(idx) for _, idx in sorted(groups.items())]


def _draws(judged: Sequence[Example], threads: Sequence[LabelledThread], resamples: int, seed: int):
    rng = np.random.default_rng(seed)
    row_strata = _strata([group_of(e) or "" for e in judged])
    thread_strata = _strata([t.lang for t in threads])
    # rows outside the pooled figures (evaluate.pooled: the translated chat lines) draw from a stream of their own,
    # so adding them leaves every other figure's draws alone; a group is wholly inside or outside
    inside = set(pooled(judged))
    apart_rng = np.random.default_rng((seed, 1))
    apart = [idx for idx in row_strata if idx[0] not in inside]
    row_strata = [idx for idx in row_strata if idx[0] in inside]

    def redraw(strata: list[np.ndarray], generator: np.random.Generator = rng) -> np.ndarray:
        parts = [generator.choice(idx, size=len(idx), replace=True) for idx in strata]
        return np.concatenate(parts) if parts else np.zeros(0, int)

    for _ in range(resamples):
        rows = redraw(row_strata)
        yield Draw(np.concatenate([rows, redraw(apart, apart_rng)]), redraw(thread_strata))


def figures(judged: Sequence[Example], threads: Sequence[LabelledThread], verdicts: Verdicts,
            draw: Draw | None = None) -> dict[str, float]:
    """Headline figures of one version, on the whole suite or on one draw of it."""
    if draw is None:
        rows, probs, decisions, paths = judged, verdicts.probs, verdicts.decisions, verdicts.paths
        kept, thread_paths = list(threads), verdicts.thread_paths
    else:
        idx = draw.rows
        rows = [judged[i] for i in idx]
        probs = {h: p[idx] for h, p in verdicts.probs.items()}
        decisions, paths = [verdicts.decisions[i] for i in idx], [verdicts.paths[i] for i in idx]
        kept = [threads[i] for i in draw.threads]
        thread_paths = [verdicts.thread_paths[i] for i in draw.threads] if verdicts.thread_paths else []
    out = headline(suite_report(rows, probs, verdicts.thresholds, decisions, paths))
    if verdicts.originals:
        out |= gap_figures(verdicts.reading(judged), verdicts.originals, None if draw is None else draw.rows)
    if kept and thread_paths:
        rates = thread_rates(kept, thread_paths)["all"]
        out |= {f"threads:{k}": float(rates[k]) for k in THREAD_FIGURES if k in rates}
    return out


def intervals(judged: Sequence[Example], verdicts: Verdicts, threads: Sequence[LabelledThread] = (),
              resamples: int = RESAMPLES, seed: int = 13, level: float = LEVEL) -> dict[str, Interval]:
    """Each headline figure with its `level` percentile interval over `resamples` redraws of the suite."""
    point = figures(judged, threads, verdicts)
    samples: dict[str, list[float]] = defaultdict(list)
    for draw in _draws(judged, threads, resamples, seed):
        for figure, value in figures(judged, threads, verdicts, draw).items():
            samples[figure].append(value)
    return {figure: percentile_interval(value, samples[figure], level) for figure, value in point.items()}


@dataclass(frozen=True)
class Difference:
    figure: str
    a: float
    b: float
    delta: Interval  # b - a

    @property
    def verdict(self) -> str:
        """'b better', 'a better' or 'noise' (the interval of the difference holds zero)."""
        if not (self.delta.low > 0 or self.delta.high < 0):
            return "noise"
        b_higher = self.delta.low > 0
        return "b better" if b_higher != lower_is_better(self.figure) else "a better"

    def as_dict(self) -> dict:
        return {"figure": self.figure, "a": round(self.a, 4), "b": round(self.b, 4), "delta": self.delta.as_dict(),
                "verdict": self.verdict}


# positive → apology of each version where a's upset → nothing is: b's gain there is not bought with fewer cards
MATCHED = "matched:positive_apologised_rate"


def matched(a: Curve, b: Curve, rows: np.ndarray | None = None, n_rows: int | None = None) -> tuple[float, float]:
    """Both versions' positive → apology at a's served upset → nothing (tradeoff.curve), on the suite or a draw.

    Both are read off their curves the same way, so a version against itself differs by exactly 0 even where its
    curve is flat in upset → nothing."""
    upset_a, positive_a = a.rates(rows, n_rows)
    upset = float(upset_a[a.served_index])
    return positive_at(upset_a, positive_a, upset), positive_at(*b.rates(rows, n_rows), upset)


def compare(judged: Sequence[Example], a: Verdicts, b: Verdicts, threads: Sequence[LabelledThread] = (),
            resamples: int = RESAMPLES, seed: int = 13, level: float = LEVEL, tradeoff: bool = True
            ) -> list[Difference]:
    """Paired bootstrap of every headline figure: version b minus version a, both rescored on the same draws.

    With `tradeoff`, also MATCHED: positive → apology of both at a's upset → nothing (about 3 s more per version)."""
    point_a, point_b = figures(judged, threads, a), figures(judged, threads, b)
    curves = (curve(judged, a.probs, a.thresholds), curve(judged, b.probs, b.thresholds)) if tradeoff else None
    at = matched(*curves) if curves else (float("nan"), float("nan"))
    if all(np.isfinite(at)):  # a suite with no upset or positive rows has no curve
        point_a[MATCHED], point_b[MATCHED] = at
    else:
        curves = None
    deltas: dict[str, list[float]] = defaultdict(list)
    for draw in _draws(judged, threads, resamples, seed):
        fig_a, fig_b = figures(judged, threads, a, draw), figures(judged, threads, b, draw)
        if curves:
            fig_a[MATCHED], fig_b[MATCHED] = matched(*curves, draw.rows, len(judged))
        for figure in fig_a.keys() & fig_b.keys():
            deltas[figure].append(fig_b[figure] - fig_a[figure])
    return [Difference(f, point_a[f], point_b[f], percentile_interval(point_b[f] - point_a[f], deltas[f], level))
            for f in point_a if f in point_b]
