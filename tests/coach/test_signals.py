"""Repeat contact, churn threat and chasing: every labelled line of prompts/signals.yaml, and what they do to a plan."""
from __future__ import annotations

import pytest

from bot.coach import Classification, Prediction, plan_recovery
from bot.coach.signals import load_signals, matcher, mentions_churn_threat, mentions_repeat_contact
from bot.labels import LANGUAGES
from bot.render.blocks import CardContext, coaching_card

SIGNALS = load_signals()
ISSUE_EXAMPLE = ("Ваш курьер опять опоздал на три часа, а суп пришёл холодный. "
                 "Я больше не буду у вас заказывать.")


def _lines(kind: str) -> list[tuple[str, str, str, bool]]:
    rows = []
    for signal in ("repeat_contact", "churn_threat", "chase"):
        for lang, rules in getattr(SIGNALS, signal).items():
            for text in (rules.positive if kind == "positive" else rules.negative):
                rows.append((signal, lang, text, kind == "positive"))
    return rows


@pytest.mark.parametrize("signal, lang, text, expected", _lines("positive") + _lines("negative"),
                         ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_every_labelled_line(signal, lang, text, expected):
    """A positive line is found in its own language; a negative line in none (it would still raise severity)."""
    found = matcher(signal).languages_found(text)
    if expected:
        assert lang in found, f"{signal}/{lang} misses {text!r}"
    else:
        assert found == [], f"{signal}/{lang} wrongly finds {text!r} (as {found})"


@pytest.mark.parametrize("signal", ["repeat_contact", "churn_threat", "chase"])
def test_the_list_covers_four_languages_with_both_kinds(signal):
    rules = getattr(SIGNALS, signal)
    assert set(rules) == set(LANGUAGES)
    for lang, entry in rules.items():
        assert len(entry.positive) >= 5 and len(entry.negative) >= 5, (signal, lang)


@pytest.mark.parametrize("text", ["I won't order from you again", "cancel my account", "ухожу к конкурентам",
                                  "再也不买了", "ma ei telli teilt enam", ISSUE_EXAMPLE])
def test_the_issues_churn_phrases(text):
    assert mentions_churn_threat([text])


@pytest.mark.parametrize("text", ["опять", "снова", "again!", "又没到", "jälle"])
def test_the_issues_repeat_words(text):
    assert mentions_repeat_contact([text])


def test_normalised_before_matching():
    """Full-width letters, a non-breaking space and a zero-width space do not hide a threat."""
    assert mentions_churn_threat(["ＣＡＮＣＥＬ my\u00a0\u200baccount"])


def _cls(tone: str, complaint: str, lang: str = "ru") -> Classification:
    return Classification(language=lang, tone=Prediction(label=tone, confidence=0.9),
                          complaint=Prediction(label=complaint, confidence=0.9))


@pytest.mark.parametrize("tone, complaint", [("neutral", "delivery"), ("frustrated", "delivery"),
                                             ("angry", "product_quality"), ("neutral", "other_complaint")])
def test_the_issues_example_is_high_or_critical(playbook, tone, complaint):
    """Late again, cold soup, "I will not order from you any more": medium before, even with a neutral tone."""
    plan = plan_recovery(ISSUE_EXAMPLE, _cls(tone, complaint), playbook)
    assert plan.severity in ("high", "critical")
    assert plan.churn_risk
    assert "may leave" in plan.why[0] and "contacted us about this before" in plan.why[0]


def test_churn_adds_the_playbooks_points(playbook):
    calm = plan_recovery("Посылка задерживается.", _cls("neutral", "delivery"), playbook)
    leaving = plan_recovery("Посылка задерживается. Ухожу к конкурентам.", _cls("neutral", "delivery"), playbook)
    assert (calm.severity, calm.churn_risk) == ("low", False)
    assert leaving.severity == "high"  # 0 tone + 1 delivery + 2 churn = 3: thresholds are 2 / 3 / 5
    assert playbook.severity.churn_threat_points == 2
    assert any("retention case" in reason for reason in leaving.why)


def test_churn_leads_the_card_with_the_value_at_stake(playbook):
    plan = plan_recovery("I won't order from you again, the parcel is late", _cls("angry", "delivery", "en"), playbook)
    blocks = coaching_card(plan, CardContext(1, "C1", "1.0", "1.0"))
    texts = [b.get("text", {}).get("text", "") for b in blocks]
    churn_at = next(i for i, t in enumerate(texts) if "Churn risk" in t)
    apology_at = next(i for i, t in enumerate(texts) if t.startswith("*Apology*"))
    assert churn_at < apology_at
    assert "1,440 USD" in texts[churn_at] and "432 USD" in texts[churn_at]
    assert not any(t.startswith("*Value at stake*") for t in texts)  # shown once, at the top

    calm = plan_recovery("the parcel is late", _cls("angry", "delivery", "en"), playbook)
    calm_texts = [b.get("text", {}).get("text", "") for b in coaching_card(calm, CardContext(1, "C1", "1.0", "1.0"))]
    assert not any("Churn risk" in t for t in calm_texts)
    assert any(t.startswith("*Value at stake*") for t in calm_texts)
