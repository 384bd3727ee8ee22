"""Builders shared by the storage tests and their worker processes (importable under spawn)."""
from __future__ import annotations

from datetime import datetime, timezone

from bot.coach.models import Classification, CustomerProfile, Prediction, RecoveryPlan
from bot.coach.planner import plan_recovery
from bot.playbook import Playbook, load_playbook
from bot.settings import PROJECT_ROOT
from bot.storage.api import CustomerMessage

WORKSPACE = "T-TEST"
CHANNEL = "C-SUPPORT"


def playbook() -> Playbook:
    return load_playbook(PROJECT_ROOT / "prompts" / "playbook.yaml")


def classification(tone: str = "angry", complaint: str = "delivery", lang: str = "en",
                   confidence: float = 0.9) -> Classification:
    return Classification(language=lang, tone=Prediction(label=tone, confidence=confidence),  # type: ignore[arg-type]
                          complaint=Prediction(label=complaint, confidence=confidence))


def plan_for(text: str, cls: Classification, book: Playbook, lifetime_value: float | None = None) -> RecoveryPlan:
    return plan_recovery(text, cls, book, customer=CustomerProfile(lifetime_value=lifetime_value))


def message(thread_ts: str, message_ts: str | None = None, text: str = "My parcel is late again",
            customer: str = "U0CUSTOMER1", at: datetime | None = None, timezone_name: str | None = None,
            product: str | None = None, channel: str = CHANNEL, workspace: str = WORKSPACE) -> CustomerMessage:
    return CustomerMessage(
        workspace=workspace, channel=channel, thread_ts=thread_ts, message_ts=message_ts or thread_ts,
        customer_id=customer, text=text, at=at or datetime(2026, 3, 18, 13, 30, tzinfo=timezone.utc),
        timezone=timezone_name, product=product,
    )


def record(store, book: Playbook, thread_ts: str, message_ts: str | None = None, tone: str = "angry",
           complaint: str = "delivery", lang: str = "en", text: str = "My parcel is late again",
           lifetime_value: float | None = None, **kwargs) -> int:
    """Record one customer message with a real plan; returns the incident id."""
    cls = classification(tone, complaint, lang)
    msg = message(thread_ts, message_ts, text=text, **kwargs)
    return store.record_customer_message(msg, cls, plan_for(text, cls, book, lifetime_value), ["U0AGENT1"])
