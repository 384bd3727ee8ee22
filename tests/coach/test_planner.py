from __future__ import annotations

import pytest

from bot.coach import Classification, CustomerProfile, Prediction, ThreadMessage, plan_recovery
from bot.coach.planner import choose_compensation
from bot.playbook.schema import CompensationOption


def cls(tone: str, complaint: str, lang: str = "en", tone_conf: float = 0.9, comp_conf: float = 0.9,
        threshold: float = 0.45) -> Classification:
    return Classification(
        language=lang,
        tone=Prediction(label=tone, confidence=tone_conf, unsure=tone_conf < threshold),
        complaint=Prediction(label=complaint, confidence=comp_conf, unsure=comp_conf < threshold),
    )


def test_never_asks_for_an_order_number_already_given(playbook):
    plan = plan_recovery("I was charged twice for order 48213!!", cls("angry", "billing"), playbook)
    assert plan.question_detail != "order_id"
    assert plan.question_detail == "amount"
    assert any("already gave it" in reason and "48213" in reason for reason in plan.why)


def test_asks_for_the_order_number_when_missing(playbook):
    plan = plan_recovery("I was charged twice!!", cls("angry", "billing"), playbook)
    assert plan.question_detail == "order_id"
    assert plan.question == playbook.questions["billing"][0].text.get("en")


def test_details_from_earlier_customer_messages_count_but_not_the_agents(playbook):
    thread = [ThreadMessage(text="order 48213, charged $40 yesterday"),
              ThreadMessage(text="Could you share the amount?", from_customer=False)]
    plan = plan_recovery("still nothing!", cls("frustrated", "billing"), playbook, thread=thread)
    assert plan.question is None  # order, amount and date are all known
    agent_only = [ThreadMessage(text="is it order 48213?", from_customer=False)]
    plan = plan_recovery("charged twice", cls("frustrated", "billing"), playbook, thread=agent_only)
    assert plan.question_detail == "order_id"


def test_agent_gets_best_option_within_authority_and_the_one_above(playbook):
    plan = plan_recovery("charged twice for order 48213, again!!", cls("angry", "billing"), playbook)
    assert plan.severity in ("high", "critical")
    assert plan.compensation is not None
    assert plan.compensation.authority == "agent" and plan.compensation.needs_approval is False
    assert plan.compensation_above is not None
    assert plan.compensation_above.needs_approval is True
    assert plan.compensation_above.authority in ("lead", "supervisor")
    assert plan.compensation_above.value > plan.compensation.value


def test_a_lead_may_give_the_lead_option_directly(playbook):
    plan = plan_recovery("charged twice for order 48213, again!!", cls("angry", "billing"), playbook, agent_role="lead")
    assert plan.compensation.authority == "lead" and not plan.compensation.needs_approval


def test_low_severity_gets_only_low_options(playbook):
    plan = plan_recovery("the parcel for order 48213 is a day late", cls("neutral", "delivery"), playbook)
    assert plan.severity == "low"
    assert plan.compensation.id == "shipping_refund"
    assert plan.compensation_above is None


def test_offer_is_capped_by_customer_lifetime_value(playbook):
    small = CustomerProfile(lifetime_value=100)  # margin 30, cap 25% -> 7.5
    plan = plan_recovery("wrong size again!!", cls("angry", "wrong_item"), playbook, customer=small)
    assert plan.compensation is None or plan.compensation.value <= 7.5
    big = CustomerProfile(lifetime_value=10_000)
    plan = plan_recovery("wrong size again!!", cls("angry", "wrong_item"), playbook, customer=big)
    assert plan.value_at_stake.high_value
    assert plan.severity == "critical"
    assert any("Losing this customer" in reason for reason in plan.why)


def test_abusive_path_sets_boundary_escalates_and_never_rewards(playbook):
    plan = plan_recovery("you useless idiot, refund me now", cls("abusive", "refund"), playbook)
    assert plan.abusive
    assert plan.compensation is None and plan.compensation_above is None
    assert plan.apology == playbook.abusive.boundary.get("en")
    assert any("Escalate" in step.action for step in plan.follow_up)


def test_not_a_complaint_gets_acknowledgement_and_no_offer(playbook):
    plan = plan_recovery("thanks, all good now!", cls("positive", "none"), playbook)
    assert plan.compensation is None and plan.follow_up == []
    assert plan.apology.startswith("Thank you for reaching out")


def test_unsure_complaint_asks_an_open_question_and_offers_nothing(playbook):
    plan = plan_recovery("hmm", cls("neutral", "refund", comp_conf=0.3), playbook)
    assert plan.question == playbook.unsure_question.get("en")
    assert plan.compensation is None
    assert any("Unsure of the complaint type" in reason for reason in plan.why)


@pytest.mark.parametrize(
    "lang, text",
    [("en", "I was charged twice!"), ("ru", "С меня дважды списали деньги!"), ("zh", "我被重复扣款了！"),
     ("et", "Minult võeti raha kaks korda!")],
)
def test_four_languages_get_text_in_their_language(playbook, lang, text):
    plan = plan_recovery(text, cls("angry", "billing", lang=lang), playbook)
    assert plan.language == lang
    expected = playbook.apologies["angry"].get(lang).format(
        issue=playbook.issue_phrases["billing"].get(lang), company=playbook.company, days="")
    assert plan.apology == expected
    assert plan.question == playbook.questions["billing"][0].text.get(lang)
    abusive = plan_recovery(text, cls("abusive", "billing", lang=lang), playbook)
    assert abusive.apology == playbook.abusive.boundary.get(lang)


def test_apologies_never_qualify_in_any_language(playbook):
    for tone in playbook.apologies:
        for complaint in playbook.issue_phrases:
            for lang in playbook.languages:
                plan = plan_recovery("x", cls(tone, complaint, lang=lang), playbook)
                for phrase in playbook.banned_phrases.get(lang, []):
                    assert phrase.lower() not in plan.apology.lower()
                assert "{" not in plan.apology


def test_choose_compensation_without_agent_option_requests_approval():
    options = [CompensationOption(id="big", offer="Refund in full", value=60, currency="USD", authority="supervisor")]
    mine, above = choose_compensation(options, "high", cap=100, agent_role="agent")
    assert mine is not None and mine.needs_approval and mine.authority == "supervisor"
    assert above is None


def test_json_contract_shape(playbook):
    plan = plan_recovery("I was charged twice for order 48213 and nobody answers!!", cls("angry", "billing"), playbook)
    data = plan.model_dump(mode="json")
    for key in ("language", "tone", "complaint", "severity", "apology", "question", "compensation", "follow_up", "why"):
        assert key in data
    assert set(data["tone"]) >= {"label", "confidence"}
    assert set(data["compensation"]) >= {"offer", "value", "currency", "authority", "needs_approval"}
    assert data["severity"] in ("low", "medium", "high", "critical")
    assert all(set(item) == {"when", "action"} for item in data["follow_up"])
    assert {item["when"] for item in data["follow_up"]} >= {"now", "internal", "+3d"}


def test_unsure_abusive_is_not_treated_as_abuse(playbook):
    plan = plan_recovery("you people...", cls("abusive", "refund", tone_conf=0.3), playbook)
    assert not plan.abusive
    assert plan.apology.startswith("Thank you")
    assert any("Unsure of the tone" in reason for reason in plan.why)
