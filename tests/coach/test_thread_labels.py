"""follow_up_labels: which labels the live card of a follow-up in a thread acts on (issue 14), in four languages."""
from __future__ import annotations

import pytest

from bot.coach.models import Classification, Prediction
from bot.coach.planner import message_path
from bot.coach.thread_labels import WHY_PREFIX, follow_up_labels

POINTS = {"abusive": 2, "angry": 2, "frustrated": 1, "anxious": 1, "neutral": 0, "positive": 0}


def said(tone: str = "neutral", complaint: str = "none", language: str = "en", confidence: float = 0.9,
         complaint_confidence: float | None = None) -> Classification:
    c = confidence if complaint_confidence is None else complaint_confidence
    return Classification(language=language, tone=Prediction(label=tone, confidence=confidence, unsure=confidence < 0.45),
                          complaint=Prediction(label=complaint, confidence=c, unsure=c < 0.45))


@pytest.mark.parametrize("text, language, complaint", [
    ("hello?? any news", "en", "billing"),
    ("where is it??", "en", "delivery"),
    ("still nothing", "en", "refund"),
    ("Ну что там? Есть новости?", "ru", "delivery"),
    ("так когда привезут?", "ru", "delivery"),
    ("怎么还没到", "zh", "delivery"),
    ("有消息吗?", "zh", "refund"),
    ("Olgu. Mis edasi saab?", "et", "product_quality"),
    ("Kas on uudiseid?", "et", "billing"),
])
def test_a_chasing_follow_up_carries_the_threads_complaint_and_tone(text, language, complaint):
    earlier = [said("angry", complaint, language)]
    labels, why = follow_up_labels(text, said(language=language), earlier, POINTS)
    assert labels.complaint.label == complaint and labels.tone.label == "angry"
    assert message_path(text, labels) == "recovery"
    assert why is not None and why.startswith(WHY_PREFIX) and "\n" not in why
    assert why == (f"Whole thread: the {complaint.replace('_', ' ')} complaint comes from an earlier message; "
                   "angry tone, the strongest in the thread.")


@pytest.mark.parametrize("text, language", [
    ("thanks, it arrived!", "en"), ("спасибо, всё пришло!", "ru"), ("收到了,谢谢!", "zh"), ("Sain kätte, aitäh!", "et"),
])
def test_a_clearly_positive_follow_up_stays_nothing_to_fix(text, language):
    latest = said("positive", language=language)
    labels, why = follow_up_labels(text, latest, [said("angry", "delivery", language)], POINTS)
    assert (labels, why) == (latest, None) and message_path(text, labels) == "nothing_to_fix"


@pytest.mark.parametrize("text, language", [
    ("ok", "en"), ("got it", "en"), ("ок, понял", "ru"), ("好的", "zh"), ("aitäh", "et"),
    ("while I have you, do you have the same boots in a 39?", "en"), ("Kas teil kinkekaarte ka müüakse?", "et"),
])
def test_an_acknowledgement_or_a_new_question_stands_on_its_own(text, language):
    """Neutral, no complaint, not chasing: the thread's complaint is not carried (no card in thread mode)."""
    latest = said(language=language)
    assert follow_up_labels(text, latest, [said("angry", "billing", language)], POINTS) == (latest, None)


def test_an_upset_follow_up_without_a_complaint_gets_the_threads_complaint():
    """Its own sure tone already makes it a recovery card; the carried complaint makes it the right one."""
    labels, why = follow_up_labels("this is ridiculous", said("frustrated"), [said("angry", "billing")], POINTS)
    assert labels.complaint.label == "billing" and labels.tone.label == "angry" and why


def test_an_unsure_complaint_is_replaced_but_an_own_complaint_is_kept():
    unsure = said(complaint="refund", complaint_confidence=0.3)
    labels, _ = follow_up_labels("any update?", unsure, [said("angry", "billing")], POINTS)
    assert labels.complaint.label == "billing"
    own = said("frustrated", "delivery")
    assert follow_up_labels("and where is my parcel?", own, [said("angry", "billing")], POINTS) == (own, None)


def test_abuse_and_threats_are_never_carried_over():
    abusive = said("abusive")
    assert follow_up_labels("any news, idiots?", abusive, [said("angry", "billing")], POINTS) == (abusive, None)
    threat = "any news? I know where your office is"
    labels, why = follow_up_labels(threat, said(), [said("angry", "billing")], POINTS)
    assert why is None and message_path(threat, labels) == "abusive"


def test_nothing_to_carry():
    latest = said()
    assert follow_up_labels("any news?", latest, [], POINTS) == (latest, None)
    unsure_before = [said("angry", "billing", complaint_confidence=0.3), said(complaint="none")]
    assert follow_up_labels("any news?", latest, unsure_before, POINTS) == (latest, None)


def test_a_resolved_incident_is_not_reopened_by_a_follow_up():
    latest = said()
    assert follow_up_labels("any news?", latest, [said("angry", "billing")], POINTS, resolved=True) == (latest, None)


def test_the_complaint_comes_from_the_latest_earlier_message_that_named_one():
    earlier = [said("angry", "billing"), said("frustrated", "delivery"), said("neutral", "none")]
    labels, _ = follow_up_labels("any news?", said(), earlier, POINTS)
    assert labels.complaint.label == "delivery" and labels.tone.label == "angry"
