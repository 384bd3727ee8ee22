"""The storage contract the Slack bot and the CLI program against (implemented in bot/storage/store.py).

Written first so the Slack layer and the storage layer can be built side by side. Every method is
safe to call from several worker processes sharing one database (SQLite file or PostgreSQL).
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from bot.coach.models import Classification, FollowUpItem, Prediction, RecoveryPlan

if TYPE_CHECKING:
    from bot.storage.customers import Customers
    from bot.storage.inbox import Inbox, OnceKeys

CompensationState = Literal["offered", "pending_approval", "approved", "denied", "given"]
DELETED_TEXT = "[deleted by its author]"  # what a customer message's stored text becomes once they delete it


@dataclass(frozen=True)
class CustomerMessage:
    workspace: str          # Slack team id
    channel: str
    thread_ts: str          # thread root ts (the message ts itself for a new thread)
    message_ts: str
    customer_id: str        # Slack user id; stored only as a keyed pseudonym
    text: str               # stored redacted, and only until retention expires
    at: datetime
    timezone: str | None = None   # from users.info tz, when known
    product: str | None = None    # product / order reference when mentioned


@dataclass(frozen=True)
class DueFollowUp:
    id: int
    incident_id: int
    owner: str              # agent user id to remind
    when: str               # 'now' | 'internal' | '+3d'
    action: str
    due_at: datetime
    channel: str
    thread_ts: str
    workspace: str = ""     # the incident's workspace: whose bot token sends the DM (multi-workspace mode)


@dataclass(frozen=True)
class PlaybookVersion:
    version: int
    yaml_text: str
    author: str
    created_at: datetime
    note: str = ""


@dataclass(frozen=True)
class StoredMessage:
    """A customer message as stored, for edits and deletions: the labels, never the text."""
    incident_id: int
    thread_ts: str
    message_ts: str
    tone: str               # the agent's correction when there is one
    complaint: str
    model_tone: str         # what the model said
    model_complaint: str
    deleted: bool = False


@dataclass(frozen=True)
class StoredLabels:
    """A customer message's labels as stored, for the thread rule of the thread's later messages (issue 14).

    The agent's correction wins over the model: a corrected label is taken as sure.
    """
    message_ts: str
    language: str
    tone: str
    tone_confidence: float
    tone_corrected: bool
    complaint: str
    complaint_confidence: float
    complaint_corrected: bool

    def classification(self, unsure_below: float) -> Classification:
        """As the classifier said it (unsure below its threshold), the agent's corrections as sure."""
        def said(label: str, confidence: float, corrected: bool) -> Prediction:
            return Prediction(label=label, confidence=1.0, unsure=False) if corrected else \
                Prediction(label=label, confidence=confidence, unsure=confidence < unsure_below)

        return Classification(language=self.language,  # type: ignore[arg-type]
                              tone=said(self.tone, self.tone_confidence, self.tone_corrected),
                              complaint=said(self.complaint, self.complaint_confidence, self.complaint_corrected))


@dataclass
class IncidentSummary:
    id: int
    channel: str
    thread_ts: str
    severity: str
    complaint: str
    tone_first: str
    tone_last: str
    opened_at: datetime
    status: str             # open | resolved
    notes: list[str] = field(default_factory=list)


class Store(Protocol):
    def migrate(self) -> None: ...                                       # alembic upgrade head
    def claim_event(self, event_id: str) -> bool: ...                   # True only the first time, across workers
    def record_customer_message(self, msg: CustomerMessage, classification: Classification,
                                plan: RecoveryPlan, shown_to: list[str]) -> int: ...   # -> incident id (upsert per thread)
    def record_agent_reply(self, workspace: str, channel: str, thread_ts: str, agent: str,
                           nudged: bool) -> None: ...
    def record_suggestion_used(self, incident_id: int, kind: str, by_user: str) -> None: ...
    def record_checklist_steps(self, incident_id: int, steps: Collection[str], source: str,
                               by_user: str) -> list[str]: ...     # steps performed in words, first time each
    def checklist(self, incident_id: int) -> frozenset[str]: ...     # steps done so far (bot/storage/checklist.py)
    def record_compensation(self, incident_id: int, option_id: str, offer: str, value: float, currency: str,
                            state: CompensationState, by_user: str, approver: str | None = None) -> int: ...
    def update_compensation(self, compensation_id: int, state: CompensationState, by_user: str) -> None: ...
    def record_correction(self, incident_id: int, message_ts: str, tone: str | None, complaint: str | None,
                          by_user: str) -> None: ...
    def corrections_for_training(self) -> list[dict]: ...              # [{text, lang, tone, complaint}] (redacted text)
    def resolve_incident(self, incident_id: int, by_user: str, follow_ups: list[FollowUpItem],
                         now: datetime | None = None) -> None: ...     # schedules the follow-ups for by_user
    def claim_due_follow_ups(self, now: datetime, worker: str, limit: int = 50) -> list[DueFollowUp]: ...
    def mark_follow_up_sent(self, follow_up_id: int) -> None: ...
    def due_follow_ups(self, now: datetime, owner: str | None = None,
                       workspace: str | None = None) -> list[DueFollowUp]: ...  # listing only
    def incident_for_thread(self, workspace: str, channel: str, thread_ts: str) -> IncidentSummary | None: ...
    def thread_labels_before(self, workspace: str, channel: str, thread_ts: str, before_ts: str,
                             inclusive: bool = False) -> list[StoredLabels]: ...  # customer messages, oldest first
    def customer_history(self, workspace: str, customer_id: str, limit: int = 5) -> list[IncidentSummary]: ...
    def incidents_since(self, since: datetime, workspace: str | None = None) -> list[IncidentSummary]: ...
    def agent_open_threads(self, agent: str, workspace: str | None = None, limit: int = 10,
                           history: int = 5) -> list[tuple[IncidentSummary, list[IncidentSummary]]]: ...  # App Home
    def save_playbook_version(self, yaml_text: str, author: str, note: str = "") -> PlaybookVersion: ...
    def current_playbook(self) -> PlaybookVersion | None: ...
    def playbook_history(self, limit: int = 20) -> list[PlaybookVersion]: ...
    def playbook_version(self, version: int) -> PlaybookVersion | None: ...
    def record_audit(self, actor: str, action: str, detail: str, allowed: bool) -> None: ...
    def customer_message(self, workspace: str, channel: str, message_ts: str) -> StoredMessage | None: ...
    def update_customer_message(self, workspace: str, channel: str, message_ts: str, text: str,
                                classification: Classification, plan: RecoveryPlan | None = None) -> bool: ...
    def redact_deleted_message(self, workspace: str, channel: str, message_ts: str) -> bool: ...
    @property
    def inbox(self) -> Inbox: ...                                       # bot/storage/inbox.py
    @property
    def once_keys(self) -> OnceKeys: ...
    @property
    def customers(self) -> Customers: ...                               # bot/storage/customers.py
