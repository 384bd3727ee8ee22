"""Flat per-incident records for stats, patterns and export, read in a few queries.

Aggregation happens in Python, not SQL: hour-of-week needs each incident's own timezone, the data
per period is small (thousands of rows), and the same code then runs on SQLite and PostgreSQL.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.coach.checklist import ordered
from bot.storage.checklist import steps_by_incident
from bot.storage.redaction import safe_reference
from bot.storage.tables import Compensation, Correction, FollowUp, Incident, SuggestionUse, to_utc

TONE_SCORES: dict[str, int] = {"abusive": -3, "angry": -2, "frustrated": -1, "anxious": -1, "neutral": 0, "positive": 1}
LOAD_BANDS: tuple[tuple[int, str], ...] = ((2, "0-2"), (5, "3-5"), (10, "6-10"))
LOAD_TOP = "11+"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SPENT_STATES = ("approved", "given")           # compensation that costs money
STATE_RANK = {"denied": 0, "offered": 1, "pending_approval": 2, "approved": 3, "given": 4}


def load_band(load: int) -> str:
    for upper, label in LOAD_BANDS:
        if load <= upper:
            return label
    return LOAD_TOP


def local_time(at: datetime, tz_name: str | None) -> datetime:
    """`at` in the customer's timezone when it is known (and valid), else UTC."""
    if tz_name:
        try:
            return at.astimezone(ZoneInfo(tz_name))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return at.astimezone(timezone.utc)


def hour_of_week_label(index: int) -> str:
    return f"{WEEKDAYS[index // 24]} {index % 24:02d}h"


@dataclass(frozen=True)
class IncidentRecord:
    id: int
    workspace: str
    channel: str
    thread_ts: str
    customer: str                  # pseudonym
    opened_at: datetime            # UTC
    last_message_at: datetime
    local_opened_at: datetime      # in the customer's timezone when known
    language: str
    complaint: str
    complaint_last: str
    tone_first: str
    tone_last: str
    severity: str
    product: str | None
    order_ref: str | None
    timezone: str | None
    load: int
    status: str
    resolved_at: datetime | None
    lifetime_value: float | None
    currency: str | None
    messages: int
    suggestions_used: tuple[str, ...] = ()
    compensation: str = "none"     # option id of the furthest-along compensation that was not denied
    compensation_state: str | None = None
    compensation_cost: float = 0.0  # approved or given value
    compensation_currency: str | None = None
    corrections: int = 0
    follow_ups: int = 0
    follow_ups_sent: int = 0
    steps: tuple[str, ...] = ()    # "a complaint is a gift" steps done, in the method's order (bot/storage/checklist.py)

    @property
    def hour_of_week(self) -> int:
        return self.local_opened_at.weekday() * 24 + self.local_opened_at.hour

    @property
    def hour_of_week_label(self) -> str:
        return hour_of_week_label(self.hour_of_week)

    @property
    def load_band(self) -> str:
        return load_band(self.load)

    @property
    def region(self) -> str | None:
        """The customer's IANA timezone: the only location Slack gives us (users.info tz)."""
        return self.timezone

    @property
    def tone_shift(self) -> int:
        return TONE_SCORES.get(self.tone_last, 0) - TONE_SCORES.get(self.tone_first, 0)

    @property
    def recovered(self) -> bool:
        """The customer ended better than they started, or ended positive."""
        return self.tone_shift > 0 or self.tone_last == "positive"

    @property
    def apology_used(self) -> bool:
        return "apology" in self.suggestions_used


def load_records(session: Session, since: datetime, until: datetime,
                 workspace: str | None = None) -> list[IncidentRecord]:
    """Incidents opened in [since, until) (of one workspace when given), oldest first, with their
    compensations, uses and follow-ups."""
    query = select(Incident).where(Incident.opened_at >= to_utc(since), Incident.opened_at < to_utc(until))
    if workspace is not None:
        query = query.where(Incident.workspace == workspace)
    incidents = session.scalars(query.order_by(Incident.opened_at, Incident.id)).all()
    ids = [i.id for i in incidents]
    if not ids:
        return []
    uses: dict[int, list[str]] = defaultdict(list)
    for incident_id, kind in session.execute(
        select(SuggestionUse.incident_id, SuggestionUse.kind).where(SuggestionUse.incident_id.in_(ids))
        .order_by(SuggestionUse.id)
    ):
        if kind not in uses[incident_id]:
            uses[incident_id].append(kind)
    comps: dict[int, list[Compensation]] = defaultdict(list)
    for comp in session.scalars(select(Compensation).where(Compensation.incident_id.in_(ids))):
        comps[comp.incident_id].append(comp)
    corrections: dict[int, int] = {
        incident_id: count for incident_id, count in session.execute(
            select(Correction.incident_id, func.count()).where(Correction.incident_id.in_(ids))
            .group_by(Correction.incident_id))
    }
    follow_ups: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for incident_id, sent_at in session.execute(
        select(FollowUp.incident_id, FollowUp.sent_at).where(FollowUp.incident_id.in_(ids))
    ):
        follow_ups[incident_id][0] += 1
        follow_ups[incident_id][1] += sent_at is not None
    steps = steps_by_incident(session, ids)
    return [_record(i, uses[i.id], comps[i.id], corrections.get(i.id, 0), follow_ups[i.id], steps.get(i.id, frozenset()))
            for i in incidents]


def _record(i: Incident, uses: list[str], comps: list[Compensation], corrections: int,
            follow_ups: list[int], steps: frozenset[str] = frozenset()) -> IncidentRecord:
    live = [c for c in comps if c.state != "denied"]
    spent = [c for c in comps if c.state in SPENT_STATES]
    best = max(live, key=lambda c: (STATE_RANK[c.state], c.value), default=None)
    return IncidentRecord(
        id=i.id, workspace=i.workspace, channel=i.channel, thread_ts=i.thread_ts, customer=i.customer,
        opened_at=i.opened_at, last_message_at=i.last_message_at,
        local_opened_at=local_time(i.opened_at, i.timezone), language=i.language,
        complaint=i.complaint, complaint_last=i.complaint_last, tone_first=i.tone_first, tone_last=i.tone_last,
        severity=i.severity, product=safe_reference(i.product), order_ref=safe_reference(i.order_ref),
        timezone=i.timezone, load=i.load_at_open,
        status=i.status, resolved_at=i.resolved_at,
        lifetime_value=None if i.lifetime_value is None else float(i.lifetime_value), currency=i.currency,
        messages=i.message_count, suggestions_used=tuple(uses),
        compensation=best.option_id if best else "none", compensation_state=best.state if best else None,
        compensation_cost=round(sum(float(c.value) for c in spent), 2),
        compensation_currency=spent[0].currency if spent else None,
        corrections=corrections, follow_ups=follow_ups[0], follow_ups_sent=follow_ups[1],
        steps=tuple(ordered(steps)),
    )
