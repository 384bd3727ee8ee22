"""SQLAlchemy 2 models of the incident store. The schema itself is created by the alembic migrations.

All timestamps are stored as naive UTC (``UTCDateTime``) so SQLite and PostgreSQL compare them the
same way, and are read back timezone-aware.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.storage.clock import to_utc, utc_now  # noqa: F401 - re-exported: most modules import them from here

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        return None if value is None else to_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        return None if value is None else value.replace(tzinfo=timezone.utc)


Money = Numeric(12, 2, asdecimal=False)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class StoreMeta(Base):
    """Small key/value facts about this database (the default pseudonym key)."""

    __tablename__ = "store_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ProcessedEvent(Base):
    """Slack event ids already handled; the primary key makes the claim atomic across workers."""

    __tablename__ = "processed_events"
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(index=True)


class Incident(Base):
    """One customer complaint thread; the per-thread summary kept up to date from its messages."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("workspace", "channel", "thread_ts"),
        Index("ix_incidents_workspace_status", "workspace", "status"),
        Index("ix_incidents_workspace_customer", "workspace", "customer"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    thread_ts: Mapped[str] = mapped_column(String(64))
    customer: Mapped[str] = mapped_column(String(64))           # keyed pseudonym, never the Slack id
    opened_at: Mapped[datetime] = mapped_column(index=True)     # first customer message
    last_message_at: Mapped[datetime]
    language: Mapped[str] = mapped_column(String(8))
    complaint: Mapped[str] = mapped_column(String(32))          # first complaint type other than 'none'
    complaint_last: Mapped[str] = mapped_column(String(32))
    tone_first: Mapped[str] = mapped_column(String(16))
    tone_last: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))           # highest seen in the thread
    product: Mapped[str | None] = mapped_column(String(200))
    order_ref: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str | None] = mapped_column(String(64))    # IANA name from Slack's users.info
    load_at_open: Mapped[int] = mapped_column(Integer)          # other open incidents in the workspace
    lifetime_value: Mapped[float | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(8))
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="open")
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))


class IncidentMessage(Base):
    """One customer message: labels (so the change over the thread is kept) and the plan shown."""

    __tablename__ = "incident_messages"
    __table_args__ = (UniqueConstraint("incident_id", "message_ts"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    message_ts: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)
    language: Mapped[str] = mapped_column(String(8))
    tone: Mapped[str] = mapped_column(String(16))               # corrected label when an agent fixed it
    tone_confidence: Mapped[float]
    model_tone: Mapped[str] = mapped_column(String(16))
    complaint: Mapped[str] = mapped_column(String(32))
    complaint_confidence: Mapped[float]
    model_complaint: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)              # redacted; NULL once retention expires
    plan: Mapped[dict] = mapped_column(JSON)                    # the plan shown, details scrubbed
    shown_to: Mapped[list] = mapped_column(JSON)


class AgentReply(Base):
    __tablename__ = "agent_replies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    agent: Mapped[str] = mapped_column(String(64))
    nudged: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime]


class SuggestionUse(Base):
    __tablename__ = "suggestion_uses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))               # apology | question | compensation | ...
    by_user: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class Compensation(Base):
    __tablename__ = "compensations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    option_id: Mapped[str] = mapped_column(String(64))
    offer: Mapped[str] = mapped_column(Text)
    value: Mapped[float] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(20))
    by_user: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class Correction(Base):
    __tablename__ = "corrections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    message_ts: Mapped[str] = mapped_column(String(64))
    tone: Mapped[str | None] = mapped_column(String(16))
    complaint: Mapped[str | None] = mapped_column(String(32))
    by_user: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class FollowUp(Base):
    """A scheduled reminder; claimed_by/claimed_at make a worker's claim exclusive until it times out."""

    __tablename__ = "follow_ups"
    __table_args__ = (Index("ix_follow_ups_pending", "sent_at", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    owner: Mapped[str] = mapped_column(String(64))
    when_spec: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]


class CustomerFlag(Base):
    """The internal follow-up: what the next agent talking to this customer should know."""

    __tablename__ = "customer_flags"
    __table_args__ = (Index("ix_customer_flags_workspace_customer", "workspace", "customer"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64))
    customer: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    note: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class ChecklistStep(Base):
    """A step of "a complaint is a gift" an agent performed in words in this thread (bot/coach/checklist.py), first
    time only; steps done with buttons (offer given, follow-ups, internal flag) are read from their own tables."""

    __tablename__ = "checklist_steps"
    __table_args__ = (UniqueConstraint("incident_id", "step"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))             # reply | card (the card's Send apology)
    by_user: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class Customer(Base):
    """A customer's lifetime value from the business's own records (`coach customers import`); the email and
    Slack user id only as keyed pseudonyms, so matching needs the store's key and nothing is kept in clear.
    Per workspace (the installing Slack team, as incidents): one workspace's import never values another's."""

    __tablename__ = "customers"
    __table_args__ = (CheckConstraint("workspace <> ''", name="workspace_not_empty"),
                      UniqueConstraint("workspace", "email_key"),
                      UniqueConstraint("workspace", "slack_team", "slack_user_key"))
    workspace: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    email_key: Mapped[str | None] = mapped_column(String(32))
    slack_team: Mapped[str | None] = mapped_column(String(64))
    slack_user_key: Mapped[str | None] = mapped_column(String(32))
    lifetime_value: Mapped[float] = mapped_column(Money)
    tier: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(8))
    updated_at: Mapped[datetime]


class PlaybookVersionRow(Base):
    __tablename__ = "playbook_versions"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    yaml_text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    allowed: Mapped[bool] = mapped_column(Boolean)


class InboxItem(Base):
    """A Slack event (or a card to re-deliver) accepted before the HTTP 200 and kept until a worker has done it.

    The unique event id is the deduplication of Slack's retries. `payload` is the event as Slack sent it,
    customer text included because the worker needs it; it is set to NULL as soon as the item is done,
    given up or cancelled. The row (ids and times, no text) stays a few days so late retries are still known.
    A worker owns an item while `lease_until` is in the future (the claim); an expired lease is claimable again.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        Index("ix_inbox_due", "state", "next_attempt_at"),
        Index("ix_inbox_message", "channel", "message_ts"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))               # message | changed | deleted | card
    channel: Mapped[str | None] = mapped_column(String(64))
    message_ts: Mapped[str | None] = mapped_column(String(64))  # the Slack message the item is about
    payload: Mapped[str | None] = mapped_column(Text)           # JSON; NULL once finished
    state: Mapped[str] = mapped_column(String(16))              # pending | done | failed | cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime]                               # first receipt: the give-up clock starts here
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    finished_at: Mapped[datetime | None] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(String(64))  # an exception type, never a message


class InteractionKey(Base):
    """A button click, command or form already handled: the key makes a replay or a second worker a no-op."""

    __tablename__ = "interaction_keys"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)  # kind + sha256 of (user, action, message)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)  # NULL: for good ("Send apology" per card)


from bot.storage import slack_tables  # noqa: E402,F401  (slack-sdk OAuth tables, migration 0003)
from bot.storage import thread_cards  # noqa: E402,F401  (engaged agents, on-duty lists, current cards: 0005)
from bot.storage import workspace_config  # noqa: E402,F401  (per-workspace roles, channel, playbooks: 0007)
