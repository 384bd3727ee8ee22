"""Judge a model out of distribution first: whole held-out sources, then in-source slices, our own lines last.

Every figure is computed from the same decisions the product makes (`bot.coach.planner.message_path` and the
classifier's thresholds), so "positive message that gets an apology" means exactly that, not a proxy.
Groups:
- `ood:<source>`: public sources never trained on (datasets.OOD_SOURCES);
- `slice:<source>`: the held-out slice of a trained public source (real text, seen wording);
- `chat:<lang>`: our hand-written support-chat validation lines;
- `twin:<lang>`: the English chat lines translated (chat_twins.py), read beside their originals (parallel.py) and
  left out of every pooled figure.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from bot.classify.chat_twins import GROUP as TWIN_GROUP, SOURCE as TWIN_SOURCE
from bot.classify.decisions import Probabilities, Thresholds, calibrated_probs, decide
from bot.classify.datasets import NOT_ABUSIVE, POLARITY_OF_TONE, Example
from bot.classify.metrics import expected_calibration_error, head_metrics
from bot.coach.models import Classification
from bot.coach.planner import message_path
from bot.labels import COMPLAINTS, TONES

GOALS = {"false_abusive_rate": 0.01, "positive_apologised_rate": 0.05, "complaint_missed_rate": 0.10}
# reported beside the goals, without one: the cost of any change that buys fewer apologies by sending fewer cards
WATCHED = ("upset_ignored_rate",)
OWN = ("chat:", TWIN_GROUP)  # groups of our own lines: judged last, never picked on
# upset: a negative tone that is not abuse (abuse has its own path and figures)
NEGATIVE_TONES = tuple(t for t, p in POLARITY_OF_TONE.items() if p == "negative" and t != "abusive")


def group_of(example: Example) -> str | None:
    if example.source == TWIN_SOURCE:
        return f"{TWIN_GROUP}{example.lang}"
    if example.split == "ood":
        return f"ood:{example.source}"
    if example.split != "val":
        return None
    if example.source == "handwritten":
        return f"chat:{example.lang}"
    return f"slice:{example.source.split(':')[0]}"


def pooled(rows: Sequence[Example]) -> list[int]:
    """The rows suite-wide figures count: all but the translated chat lines, which only a comparison with their
    English originals reads (else our own lines, counted twice over, would dilute the real text)."""
    return [i for i, e in enumerate(rows) if e.source != TWIN_SOURCE]


def _binary_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    tp = float((gold & pred).sum())
    fp, fn = float((~gold & pred).sum()), float((gold & ~pred).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _macro_f1(gold: list[str], pred: list[str]) -> float:
    classes = sorted(set(gold))
    g, p = np.array(gold), np.array(pred)
    return float(np.mean([_binary_f1(g == c, p == c) for c in classes])) if classes else 0.0


def score_group(rows: Sequence[Example], probs: Probabilities, decisions: list[Classification],
                paths: Sequence[str] | None = None) -> dict:
    """Every metric the group's labels allow; `n_*` says on how many rows each was computed.

    `paths` (each row's card path) may be passed when already known: the bootstrap rescored resamples many times."""
    paths = card_paths(rows, decisions) if paths is None else paths
    out: dict[str, float | int] = {"n": len(rows)}
    tone_idx = [i for i, e in enumerate(rows) if e.tone in TONES and e.tone_w >= 1.0]
    if tone_idx:
        gold = [TONES.index(rows[i].tone) for i in tone_idx]  # type: ignore[arg-type]
        metrics = head_metrics(list(TONES), gold, probs["tone"][tone_idx])
        out |= {"tone_macro_f1": metrics["macro_f1"], "tone_ece": metrics["ece"], "n_tone": len(tone_idx)}
    pol_idx = [i for i, e in enumerate(rows) if e.polarity and e.polarity_w >= 1.0]
    if pol_idx:
        gold_p = [rows[i].polarity for i in pol_idx]
        pred_p = [POLARITY_OF_TONE[decisions[i].tone.label] for i in pol_idx]
        out |= {"polarity_macro_f1": _macro_f1(gold_p, pred_p),  # type: ignore[arg-type]
                "polarity_accuracy": float(np.mean([g == p for g, p in zip(gold_p, pred_p)])), "n_polarity": len(pol_idx)}
    comp_idx = [i for i, e in enumerate(rows) if e.complaint in COMPLAINTS and e.complaint_w >= 1.0]
    if comp_idx:
        gold = [COMPLAINTS.index(rows[i].complaint) for i in comp_idx]  # type: ignore[arg-type]
        metrics = head_metrics(list(COMPLAINTS), gold, probs["complaint"][comp_idx])
        is_gold = np.array([rows[i].complaint != "none" for i in comp_idx])
        is_pred = np.array([decisions[i].complaint.label != "none" for i in comp_idx])
        out |= {"complaint_macro_f1": metrics["macro_f1"], "complaint_ece": metrics["ece"],
                "is_complaint_f1": _binary_f1(is_gold, is_pred) if is_gold.any() else float("nan"),
                "n_complaint": len(comp_idx)}
    abuse_idx = [i for i, e in enumerate(rows) if e.tone in TONES or e.tone == NOT_ABUSIVE]
    if abuse_idx and any(rows[i].tone == "abusive" for i in abuse_idx):
        gold_a = np.array([rows[i].tone == "abusive" for i in abuse_idx])
        pred_a = np.array([paths[i] == "abusive" for i in abuse_idx])
        out |= {"abusive_f1": _binary_f1(gold_a, pred_a), "n_abusive": int(gold_a.sum())}
    out |= product_errors(rows, decisions, paths)
    return out


def card_paths(rows: Sequence[Example], decisions: Sequence[Classification]) -> list[str]:
    return [message_path(e.text, d) for e, d in zip(rows, decisions)]


def error_rows(rows: Sequence[Example]) -> dict[str, list[int]]:
    """The rows each product error is counted over, by the rate's name."""
    non_abusive = [i for i, e in enumerate(rows) if (e.tone and e.tone != "abusive") or
                   (e.tone is None and e.polarity is not None) or (e.tone is None and e.complaint is not None)]
    # clearly positive: positive and, where a complaint label exists, not a complaint ("thanks, but...")
    positive = [i for i, e in enumerate(rows) if e.complaint in (None, "none") and (
        (e.tone == "positive" and e.tone_w >= 1.0) or (e.polarity == "positive" and e.tone is None))]
    complaints = [i for i, e in enumerate(rows) if e.complaint not in (None, "none") and e.complaint_w >= 1.0]
    # clearly upset without a named complaint ("I'm so fed up"): a card is still owed
    upset = [i for i, e in enumerate(rows) if e.complaint in (None, "none") and (
        (e.tone in NEGATIVE_TONES and e.tone_w >= 1.0) or (e.polarity == "negative" and e.tone is None))]
    return {"false_abusive_rate": non_abusive, "positive_apologised_rate": positive,
            "complaint_missed_rate": complaints, "upset_ignored_rate": upset}


COUNTS = {"false_abusive_rate": "n_non_abusive", "positive_apologised_rate": "n_positive",
          "complaint_missed_rate": "n_complaints", "upset_ignored_rate": "n_upset"}


def is_error(rate: str, path: str) -> bool:
    """Whether a row counted for this rate (error_rows) went down the wrong card path."""
    if rate == "false_abusive_rate":
        return path == "abusive"
    if rate == "positive_apologised_rate":
        return path != "nothing_to_fix"
    return path == "nothing_to_fix"  # a complaint, or an upset customer, left without a card


def product_errors(rows: Sequence[Example], decisions: Sequence[Classification],
                   paths: Sequence[str] | None = None) -> dict[str, float | int]:
    """Shares of messages sent down the wrong card path (goals in GOALS)."""
    paths = card_paths(rows, decisions) if paths is None else paths
    out: dict[str, float | int] = {}
    for rate, idx in error_rows(rows).items():
        if idx:
            out |= {rate: float(np.mean([is_error(rate, paths[i]) for i in idx])), COUNTS[rate]: len(idx)}
    return out


def evaluate_suite(examples: Sequence[Example], predict: Callable[[list[str]], Probabilities],
                   thresholds: Thresholds) -> dict[str, dict]:
    """Scores per group, 'product' (error rates pooled over every judged row), 'calibration', 'language_gaps'."""
    judged = [e for e in examples if group_of(e)]
    return suite_report(judged, predict([e.text for e in judged]), thresholds)


def suite_report(judged: Sequence[Example], probs: Probabilities, thresholds: Thresholds,
                 decisions: Sequence[Classification] | None = None, paths: Sequence[str] | None = None) -> dict:
    """`decisions` and `paths` may be passed when already computed for these rows (bootstrap resamples)."""
    decisions = decide(probs, thresholds) if decisions is None else decisions
    paths = card_paths(judged, decisions) if paths is None else paths
    groups = _scores(judged, probs, thresholds, decisions, paths)
    confidence = probs["complaint"].max(1)
    counted = pooled(judged)
    comp = [i for i in counted if judged[i].complaint in COMPLAINTS and judged[i].complaint_w >= 1.0]
    correct = np.array([COMPLAINTS[int(probs["complaint"][i].argmax())] == judged[i].complaint for i in comp], float)
    product = product_errors([judged[i] for i in counted], [decisions[i] for i in counted], [paths[i] for i in counted])
    report = {"groups": dict(sorted(groups.items())), "product": product,
              "calibration": {"complaint_ece": expected_calibration_error(confidence[comp], correct)}}
    report["language_gaps"] = language_gaps(report["groups"])
    report["summary"] = summary(report["groups"])
    return report


def summary(groups: dict[str, dict]) -> dict[str, float]:
    """Means over the held-out sources: the figures versions are compared by."""
    out = {}
    for metric in ("polarity_macro_f1", "tone_macro_f1", "complaint_macro_f1", "is_complaint_f1"):
        values = [m[metric] for g, m in groups.items() if g.startswith("ood:") and metric in m]
        if values:
            out[f"ood_{metric}"] = round(float(np.mean(values)), 4)
    return out


def evaluate_version(directory, examples: Sequence[Example], classifier, backend: str = "torch",
                     pick: bool = False, threads: Sequence | None = None, resamples: int = 0,
                     audit: Sequence | None = None, twins: Sequence[Example] = ()) -> dict:
    """Score a version on the suite; with `pick`, first choose its thresholds on it and save them in config.json.

    `threads` (labelled_threads.load_threads) adds product errors on whole hand-labelled conversations; `resamples`
    (> 0) adds a 95 % bootstrap interval to each headline figure (uncertainty.intervals). Rows that keep their
    English original are also read in English (parallel.py). `audit` (positive_audit.load_audit) adds positive →
    apology on the rows a reader judged clearly positive. `twins` (chat_twins.load_twins) are our English chat lines
    translated, read beside their originals.
    Writes metrics.json (torch) or metrics-<backend>.json next to the version."""
    import json

    from bot.classify.labelled_threads import thread_rates
    from bot.classify.parallel import parallel_report
    from bot.classify.positive_audit import audited_rates
    from bot.classify.tradeoff import curve
    from bot.classify.uncertainty import LEVEL, intervals, judge

    judged = [e for e in examples if group_of(e)] + list(twins)
    logits = classifier.logits([e.text for e in judged])
    picked = None
    if pick:
        picked = pick_settings(judged, logits, classifier.config, classifier.thresholds.unsure)
        classifier.config.abusive_threshold = picked["abusive_threshold"]
        classifier.config.save(directory)
        classifier.thresholds = Thresholds(classifier.thresholds.unsure,
                                           max(picked["abusive_threshold"], classifier.thresholds.unsure))
    threads = list(threads or [])  # hand-written whole threads: reported, never picked on
    verdicts = judge(classifier, judged, threads, calibrated_probs(logits, classifier.config))
    report = suite_report(judged, verdicts.probs, classifier.thresholds, verdicts.decisions, verdicts.paths)
    report = {"version": classifier.config.version, "backend": backend, "picked": picked,
              "thresholds": {"unsure": classifier.thresholds.unsure, "abusive": classifier.thresholds.abusive},
              **report}
    report["tradeoff"] = curve(judged, verdicts.probs, classifier.thresholds).as_dict()
    if verdicts.originals:
        report["parallel"] = parallel_report(verdicts.reading(judged), verdicts.originals, resamples)
    if threads:
        report["threads"] = thread_rates(threads, verdicts.thread_paths)
    if audit:
        report["positive_audit"] = audited_rates(judged, verdicts.paths, audit)
    if resamples > 0:
        report["intervals"] = {"resamples": resamples, "level": LEVEL, "figures": {
            figure: interval.as_dict() for figure, interval in intervals(judged, verdicts, threads, resamples).items()}}
    name = "metrics.json" if backend == "torch" else f"metrics-{backend}.json"
    if picked is None and (directory / "metrics.json").is_file():  # keep the record of how thresholds were picked
        report["picked"] = json.loads((directory / "metrics.json").read_text()).get("picked")
    (directory / name).write_text(json.dumps(report, indent=1, default=float) + "\n")
    return report


def language_gaps(groups: dict[str, dict]) -> dict[str, float]:
    """Points each language's chat lines trail English, per head (the goal: at most 5)."""
    gaps = {}
    en = groups.get("chat:en", {})
    for lang in ("ru", "zh", "et"):
        other = groups.get(f"chat:{lang}", {})
        for metric in ("tone_macro_f1", "complaint_macro_f1"):
            if metric in en and metric in other:
                gaps[f"{lang}:{metric}"] = round(100 * (en[metric] - other[metric]), 1)
    return gaps


ABUSIVE_GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
POLARITY_WEIGHTS = (0.0, 0.5, 1.0)


def _ood_polarity(report: dict[str, dict]) -> float:
    values = [m["polarity_macro_f1"] for g, m in report.items()
              if not g.startswith(OWN) and "polarity_macro_f1" in m]  # real text only
    return float(np.mean(values)) if values else 0.0


def pick_settings(examples: Sequence[Example], logits: dict[str, np.ndarray], config, unsure: float) -> dict:
    """Polarity weight and abusive threshold, picked on the suite (never on the chat lines alone).

    Both are picked on public (real-text) groups only, never on our chat lines: the polarity weight maximises mean
    polarity macro-F1; the abusive threshold is the lowest that keeps non-abusive messages off the boundary path in at
    most 1 % of those rows (GOALS).
    """
    judged = [i for i, e in enumerate(examples) if group_of(e)]
    rows = [examples[i] for i in judged]
    sub = {h: v[judged] for h, v in logits.items()}
    best_weight, best_score = 0.0, -1.0
    for weight in POLARITY_WEIGHTS:
        config.polarity_weight = weight
        report = _scores(rows, calibrated_probs(sub, config), Thresholds(unsure, 0.7))
        if _ood_polarity(report) > best_score + 1e-4:
            best_weight, best_score = weight, _ood_polarity(report)
    config.polarity_weight = best_weight
    probs = calibrated_probs(sub, config)
    real = [i for i, e in enumerate(rows) if not group_of(e).startswith(OWN)]  # type: ignore[union-attr]
    real_probs = {h: v[real] for h, v in probs.items()}
    chosen = ABUSIVE_GRID[-1]
    for threshold in ABUSIVE_GRID:
        errors = product_errors([rows[i] for i in real], decide(real_probs, Thresholds(unsure, threshold)))
        if errors.get("false_abusive_rate", 0.0) <= GOALS["false_abusive_rate"]:
            chosen = threshold
            break
    return {"polarity_weight": best_weight, "abusive_threshold": chosen, "ood_polarity_macro_f1": round(best_score, 4)}


def _scores(rows: Sequence[Example], probs: Probabilities, thresholds: Thresholds,
            decisions: Sequence[Classification] | None = None, paths: Sequence[str] | None = None
            ) -> dict[str, dict]:
    decisions = decide(probs, thresholds) if decisions is None else decisions
    paths = card_paths(rows, decisions) if paths is None else paths
    groups: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(rows):
        groups[group_of(e)].append(i)  # type: ignore[index]
    return {name: score_group([rows[i] for i in idx], {h: p[idx] for h, p in probs.items()},
                              [decisions[i] for i in idx], [paths[i] for i in idx]) for name, idx in groups.items()}
