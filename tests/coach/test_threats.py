"""Every labelled line of prompts/threats.yaml, and threats through the planner: boundary and escalation, no offer."""
from __future__ import annotations

import pytest

from bot.coach.models import Classification, Prediction
from bot.coach.planner import plan_recovery
from bot.coach.threats import load_threats, mentions_threat

LINES = [(lang, text, kind) for lang, rules in load_threats().items()
         for kind, texts in (("positive", rules.positive), ("negative", rules.negative)) for text in texts]


@pytest.mark.parametrize("lang, text, kind", LINES)
def test_each_labelled_line(lang, text, kind):
    assert mentions_threat([text]) is (kind == "positive"), f"{lang}: {text}"


def test_every_language_has_threats_and_look_alikes():
    assert set(load_threats()) == {"en", "ru", "zh", "et"}
    assert all(len(r.positive) >= 5 and len(r.negative) >= 4 for r in load_threats().values())


@pytest.mark.parametrize("text, lang", [("I know where your office is. Refund me.", "en"),
                                        ("Я знаю, где ваш офис находится. Верните деньги.", "ru"),
                                        ("我知道你们公司在哪，赶紧退款", "zh"),
                                        ("Ma tean, kus teie kontor asub. Makske raha tagasi.", "et")])
def test_a_threat_gets_the_escalation_path_even_when_the_model_says_angry(playbook, text, lang):
    angry = Classification(language=lang, tone=Prediction(label="angry", confidence=0.9),
                           complaint=Prediction(label="refund", confidence=0.9))
    plan = plan_recovery(text, angry, playbook)
    assert plan.abusive and plan.compensation is None
    assert any("threat" in reason.lower() for reason in plan.why)
    calm = plan_recovery("Please refund me.", angry, playbook)
    assert not calm.abusive
