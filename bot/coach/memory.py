"""Customer memory: earlier incidents of this customer, their internal flags, open follow-ups, what was given.

The seeds' internal follow-up exists so that the next colleague knows and the customer never tells the story
twice; the store keeps it (flags, compensations, resolutions per incident, found by the customer's keyed
pseudonym) and this module turns it into what the card shows. `build_memory` is pure; `load_profile` reads
the two store calls it needs, so the Slack bot and `/recover` build the same profile.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bot.coach.models import CustomerMemory, CustomerProfile, PastIncident

if TYPE_CHECKING:
    from bot.storage.api import DueFollowUp, IncidentSummary

HISTORY_LIMIT = 5                          # earlier incidents looked up (the card shows the count and the latest)
FOLLOW_UP_HORIZON = timedelta(days=366)    # follow-ups are due within a year (the playbook's limit)
# 'offered' is what rows written before offers within the agent's authority were recorded as 'given'
_GIVEN = re.compile(r"^Compensation (?P<what>'.*' \([^)]*\)): (?P<state>approved|given|offered)$")
_FLAG, _RESOLVED = "Flagged: ", "Resolved by "


class MemoryStore(Protocol):
    """What memory needs of the store (bot/storage/api.py Store)."""

    def customer_history(self, workspace: str, customer_id: str, limit: int = 5) -> list[IncidentSummary]: ...
    def due_follow_ups(self, now: datetime, owner: str | None = None) -> list[DueFollowUp]: ...


def past_incident(summary: IncidentSummary) -> PastIncident:
    """One stored incident summary as the card needs it; its notes are the store's notes for the next agent."""
    given = [m["what"] for m in (_GIVEN.match(note) for note in summary.notes) if m]
    flags = [note.removeprefix(_FLAG) for note in summary.notes if note.startswith(_FLAG)]
    resolved = next((note.removeprefix(_RESOLVED) for note in summary.notes if note.startswith(_RESOLVED)), None)
    return PastIncident(opened_at=summary.opened_at, complaint=summary.complaint, severity=summary.severity,  # type: ignore[arg-type]
                        status=summary.status, tone_first=summary.tone_first, tone_last=summary.tone_last,
                        given=given, flags=flags, resolved=resolved)


def build_memory(history: Sequence[IncidentSummary], follow_ups: Sequence[DueFollowUp],
                 thread_ts: str | None = None) -> CustomerMemory:
    """Memory from the customer's incidents (most recent first) and pending follow-ups; `thread_ts`'s own
    incident is not history."""
    earlier = [s for s in history if s.thread_ts != thread_ts]
    ids = {s.id for s in earlier}
    pending = [f"`{f.when}` {f.action} (due {f.due_at:%Y-%m-%d}, <@{f.owner}>)"
               for f in sorted(follow_ups, key=lambda f: f.due_at) if f.incident_id in ids]
    return CustomerMemory(incidents=[past_incident(s) for s in earlier], open_follow_ups=pending)


def load_profile(store: MemoryStore, workspace: str, customer_id: str, thread_ts: str | None,
                 now: datetime) -> CustomerProfile:
    """The customer's profile with their memory: earlier contacts count towards severity as before."""
    history = store.customer_history(workspace, customer_id, limit=HISTORY_LIMIT + 1)
    earlier = [s for s in history if s.thread_ts != thread_ts][:HISTORY_LIMIT]
    # follow-ups exist only once an incident is resolved: skip the lookup for customers with none
    follow_ups = store.due_follow_ups(now + FOLLOW_UP_HORIZON) if any(s.status == "resolved" for s in earlier) else []
    memory = build_memory(earlier, follow_ups, thread_ts)
    return CustomerProfile(customer_id=customer_id, previous_contacts=len(memory.incidents), memory=memory)
