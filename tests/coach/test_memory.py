"""Customer memory from the real store: earlier incidents, flags, open follow-ups, what was given (item 1)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.coach import Classification, Prediction, plan_recovery
from bot.coach.memory import build_memory, load_profile
from bot.coach.models import FollowUpItem
from bot.render.blocks import CardContext, coaching_card, memory_line
from bot.storage.api import CustomerMessage

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    from bot.storage.store import SqlStore

    store = SqlStore(f"sqlite:///{tmp_path / 'memory.sqlite'}")
    store.migrate()
    yield store
    store.close()


def _cls(tone: str = "angry", complaint: str = "delivery") -> Classification:
    return Classification(language="en", tone=Prediction(label=tone, confidence=0.9),
                          complaint=Prediction(label=complaint, confidence=0.9))


def _incident(store, playbook, thread: str, text: str, at: datetime, customer: str = "UCUST") -> int:
    plan = plan_recovery(text, _cls(), playbook)
    return store.record_customer_message(CustomerMessage("T1", "C1", thread, thread, customer, text, at),
                                         _cls(), plan, shown_to=["UAGENT"])


def test_a_returning_customer_brings_flag_follow_ups_and_what_was_given(store, playbook):
    first = _incident(store, playbook, "100.1", "my parcel is late", NOW - timedelta(days=2))
    store.record_compensation(first, "express_reship", "Free express re-shipment", 15, "USD", "given", "UAGENT")
    store.record_compensation(first, "delivery_credit_30", "Store credit of 30 USD", 30, "USD", "denied", "UAGENT")
    store.resolve_incident(first, "UAGENT", [FollowUpItem(when="internal", action="Flag the customer's record"),
                                             FollowUpItem(when="+3d", action="Check in with the customer")],
                           now=NOW - timedelta(days=1))
    _incident(store, playbook, "100.9", "someone else's parcel", NOW, customer="UOTHER")
    _incident(store, playbook, "200.1", "late again!", NOW)  # this thread: not history

    profile = load_profile(store, "T1", "UCUST", "200.1", NOW)
    memory = profile.memory
    assert profile.previous_contacts == 1 and memory is not None
    [past] = memory.incidents
    assert (past.complaint, past.status) == ("delivery", "resolved")
    assert past.given == ["'Free express re-shipment' (15 USD)"]  # denied is not 'given'
    assert memory.last_given == "'Free express re-shipment' (15 USD)"
    assert memory.flags and "Flag the customer's record" in memory.flags[0]
    # not yet sent by the scheduler: both are open, the earliest due first
    assert [item.split()[0] for item in memory.open_follow_ups] == ["`internal`", "`+3d`"]
    store.mark_follow_up_sent(store.due_follow_ups(NOW, owner="UAGENT")[0].id)
    assert len(load_profile(store, "T1", "UCUST", "200.1", NOW).memory.open_follow_ups) == 1
    assert past.resolved and past.resolved.startswith("UAGENT on ")

    plan = plan_recovery("late again!", _cls(), playbook, customer=profile)
    assert plan.customer_memory == memory
    assert any(reason.startswith("Returning customer: 1 earlier incident") for reason in plan.why)
    line = memory_line(memory)
    assert "1 earlier incident" in line and "flagged" in line and "2 open follow-ups" in line
    assert "last given: 'Free express re-shipment' (15 USD)" in line


def test_first_contact_says_so(store, playbook):
    _incident(store, playbook, "300.1", "where is my order", NOW)
    profile = load_profile(store, "T1", "UCUST", "300.1", NOW)
    assert profile.previous_contacts == 0 and profile.memory is not None and profile.memory.incidents == []
    plan = plan_recovery("where is my order", _cls(), playbook, customer=profile)
    texts = [e["text"] for b in coaching_card(plan, CardContext(1, "C1", "300.1", "300.1"))
             if b["type"] == "context" for e in b["elements"]]
    assert any("first contact" in t for t in texts)


def test_memory_counts_once_per_thread_and_keeps_five():
    from bot.storage.api import IncidentSummary

    summaries = [IncidentSummary(id=i, channel="C1", thread_ts=f"{i}.0", severity="low", complaint="billing",
                                 tone_first="neutral", tone_last="neutral", opened_at=NOW - timedelta(days=i),
                                 status="open") for i in range(1, 4)]
    memory = build_memory(summaries, [], thread_ts="2.0")
    assert [p.opened_at for p in memory.incidents] == [NOW - timedelta(days=1), NOW - timedelta(days=3)]
    assert memory.last_given is None and memory.flags == []
