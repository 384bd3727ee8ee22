"""`SqlStore`: the `Store` contract (bot/storage/api.py) on SQLite or PostgreSQL via SQLAlchemy 2.

Several bot workers may share one database. Every write is one short transaction; races are settled
by the database, not by the process: unique constraints (an event id, an incident per thread, a
message per incident) turn a lost race into an IntegrityError that is caught inside a SAVEPOINT, the
incident row is locked (FOR UPDATE on PostgreSQL, the write lock on SQLite) while its summary is
recomputed, and follow-ups are claimed by a conditional UPDATE whose row count says who won.
"""
from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from sqlalchemy import Engine, and_, delete, func, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.coach.models import Classification, FollowUpItem, RecoveryPlan
from bot.labels import SEVERITIES
from bot.storage.api import (
    CompensationState,
    CustomerMessage,
    DueFollowUp,
    IncidentSummary,
    PlaybookVersion,
)
from bot.storage.api import DELETED_TEXT, StoredLabels, StoredMessage
from bot.storage.db import is_sqlite, make_engine, with_retry
from bot.storage.followups import due_at, is_internal
from bot.storage.inbox import Inbox, OnceKeys
from bot.storage.privacy import pseudonym, scrub_plan
from bot.storage.redaction import redact, safe_reference
from bot.storage.tables import (
    utc_now,
    AgentReply,
    AuditEntry,
    Compensation,
    Correction,
    CustomerFlag,
    FollowUp,
    Incident,
    IncidentMessage,
    PlaybookVersionRow,
    ProcessedEvent,
    StoreMeta,
    SuggestionUse,
    to_utc,
)

if TYPE_CHECKING:
    from bot.storage.customers import Customers
    from bot.storage.thread_cards import ThreadCards
    from bot.storage.workspace_config import WorkspaceConfigs

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
PSEUDONYM_KEY = "pseudonym_key"
COMPENSATION_STATES: tuple[str, ...] = get_args(CompensationState)
_MIGRATION_LOCK = 0x636F6163  # PostgreSQL advisory lock id ('coac'): one migrator at a time


@dataclass(frozen=True)
class AuditRecord:
    at: datetime
    actor: str
    action: str
    detail: str
    allowed: bool


class SqlStore:
    """The incident store. Pass the URL (and key) explicitly; nothing is read from globals.

    pseudonym_key: secret for customer pseudonyms. When None, a random key created by the first
    migration and kept in the database is used, so every worker derives the same pseudonyms; pass one
    from a secret store to keep the key apart from the data.
    text_retention_days: customer text (redacted) is kept this long, then blanked by
    `purge_expired_text`; 0 keeps none at all.
    thread_state_days: engaged agents and cards of a thread idle this long are deleted by `housekeeping`.
    claim_timeout: a claimed follow-up not marked sent within this time is claimable again (its worker died).
    load_window: an open incident counts towards the load only if its customer wrote within this window.
    """

    def __init__(
        self,
        database_url: str,
        pseudonym_key: str | None = None,
        text_retention_days: int = 30,
        thread_state_days: float = 30,
        claim_timeout: timedelta = timedelta(minutes=10),
        load_window: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.database_url = database_url
        self.text_retention_days = text_retention_days
        self.thread_state_days = thread_state_days
        self.claim_timeout = claim_timeout
        self.load_window = load_window
        self._clock = clock
        self._key = pseudonym_key
        self._writer: Engine = make_engine(database_url, immediate=True)
        sqlite_file = is_sqlite(database_url) and self._writer.url.database not in (None, "", ":memory:")
        self._reader: Engine = make_engine(database_url, immediate=False) if sqlite_file else self._writer
        self._write_sessions = sessionmaker(self._writer, expire_on_commit=False)
        self._read_sessions = sessionmaker(self._reader, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings) -> "SqlStore":
        """The store the settings describe (URL, retention, pseudonym key); a SQLite file's folder is created."""
        url = settings.coach_database_url
        if url.startswith("sqlite:///") and not url.endswith(":memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        key = settings.coach_pseudonym_key.get_secret_value() if settings.coach_pseudonym_key else None
        return cls(url, pseudonym_key=key, text_retention_days=settings.coach_text_retention_days,
                   thread_state_days=settings.coach_thread_state_days)

    # ----------------------------------------------------------------- plumbing
    def close(self) -> None:
        self._writer.dispose()
        self._reader.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only session (for stats and export)."""
        with self._read_sessions() as session:
            yield session

    def _write(self):  # type: ignore[no-untyped-def]
        return self._write_sessions.begin()

    def _now(self) -> datetime:
        return to_utc(self._clock())

    def _pseudonym(self, user_id: str) -> str:
        if self._key is None:
            try:
                with self.read_session() as s:
                    key = s.scalar(select(StoreMeta.value).where(StoreMeta.key == PSEUDONYM_KEY))
            except DBAPIError as exc:  # no such table
                raise RuntimeError("the database has no schema: run migrate() (coach db upgrade) first") from exc
            if key is None:
                raise RuntimeError("no pseudonym key in the database: run migrate() (coach db upgrade) first")
            self._key = key
        return pseudonym(self._key, user_id)

    # ----------------------------------------------------------------- schema
    def migrate(self) -> None:
        """alembic upgrade head, in one transaction, one migrator at a time."""
        from alembic import command
        from alembic.config import Config
        from sqlalchemy import text

        with self._writer.begin() as connection:  # BEGIN IMMEDIATE on SQLite: the write lock is ours
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def schema_revision(self) -> str | None:
        """The database's alembic revision (None for an empty database)."""
        from alembic.runtime.migration import MigrationContext

        with self._reader.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    # ----------------------------------------------------------------- events
    def claim_event(self, event_id: str) -> bool:
        """True for the first worker to claim this Slack event id; the primary key settles races."""
        def work() -> bool:
            try:
                with self._write() as s:
                    s.add(ProcessedEvent(event_id=event_id, claimed_at=self._now()))
            except IntegrityError:
                return False
            return True

        return with_retry(work)

    def forget_events_before(self, before: datetime) -> int:
        """Drop event claims older than `before` (Slack retries only within minutes)."""
        with self._write() as s:
            result = s.execute(delete(ProcessedEvent).where(ProcessedEvent.claimed_at < to_utc(before)))
            return result.rowcount or 0

    # ----------------------------------------------------------------- incidents
    def record_customer_message(self, msg: CustomerMessage, classification: Classification,
                                plan: RecoveryPlan, shown_to: list[str]) -> int:
        """Upsert the thread's incident, add the message (once) and refresh the incident's summary."""
        customer = self._pseudonym(msg.customer_id)
        at = to_utc(msg.at)
        redacted = redact(msg.text)
        text = redacted if self.text_retention_days > 0 else None
        stored_plan = scrub_plan(plan, msg.text, redacted)
        # kept only when it cannot be a phone, card or id, nor a piece of one in this message
        order_ref = safe_reference(plan.details_found.get("order_id"), msg.text, redacted)
        product = safe_reference(msg.product, msg.text, redacted,
                                 from_text=msg.product in plan.details_found.values())

        def work() -> int:
            with self._write() as s:
                incident = self._lock_incident(s, msg.workspace, msg.channel, msg.thread_ts)
                if incident is None:
                    incident = self._open_incident(s, msg, customer, at, classification)
                message = IncidentMessage(
                    incident_id=incident.id, message_ts=msg.message_ts, at=at,
                    language=classification.language,
                    tone=classification.tone.label, tone_confidence=classification.tone.confidence,
                    model_tone=classification.tone.label,
                    complaint=classification.complaint.label,
                    complaint_confidence=classification.complaint.confidence,
                    model_complaint=classification.complaint.label,
                    severity=plan.severity, text=text, plan=stored_plan, shown_to=list(shown_to),
                )
                try:
                    with s.begin_nested():
                        s.add(message)
                except IntegrityError:
                    pass  # the same Slack message delivered twice: already recorded
                incident.product = incident.product or product
                incident.timezone = incident.timezone or msg.timezone
                incident.order_ref = incident.order_ref or order_ref
                incident.lifetime_value = plan.value_at_stake.lifetime_revenue
                incident.currency = plan.value_at_stake.currency
                self._refresh_summary(s, incident)
                return incident.id

        return with_retry(work)

    def _lock_incident(self, s: Session, workspace: str, channel: str, thread_ts: str) -> Incident | None:
        query = select(Incident).where(
            Incident.workspace == workspace, Incident.channel == channel, Incident.thread_ts == thread_ts
        )
        return s.scalars(query.with_for_update()).one_or_none()

    def _open_incident(self, s: Session, msg: CustomerMessage, customer: str, at: datetime,
                       classification: Classification) -> Incident:
        load = s.scalar(
            select(func.count()).select_from(Incident).where(
                Incident.workspace == msg.workspace,
                Incident.status == "open",
                Incident.last_message_at >= at - self.load_window,
            )
        ) or 0
        tone, complaint = classification.tone.label, classification.complaint.label
        incident = Incident(
            workspace=msg.workspace, channel=msg.channel, thread_ts=msg.thread_ts, customer=customer,
            opened_at=at, last_message_at=at, language=classification.language,
            complaint=complaint, complaint_last=complaint, tone_first=tone, tone_last=tone, severity="low",
            load_at_open=load, message_count=0, status="open",
        )
        try:
            with s.begin_nested():
                s.add(incident)
        except IntegrityError:  # another worker opened it first: use theirs
            existing = self._lock_incident(s, msg.workspace, msg.channel, msg.thread_ts)
            if existing is None:
                raise
            return existing
        return incident

    def _refresh_summary(self, s: Session, incident: Incident) -> None:
        """Recompute first/last tone, complaint and severity from all of the thread's messages."""
        rows = s.execute(
            select(IncidentMessage.at, IncidentMessage.language, IncidentMessage.tone,
                   IncidentMessage.complaint, IncidentMessage.severity)
            .where(IncidentMessage.incident_id == incident.id)
            .order_by(IncidentMessage.at, IncidentMessage.id)
        ).all()
        if not rows:
            return
        first, last = rows[0], rows[-1]
        complaints = [r.complaint for r in rows if r.complaint != "none"]
        incident.opened_at, incident.last_message_at = first.at, last.at
        incident.language = first.language
        incident.tone_first, incident.tone_last = first.tone, last.tone
        incident.complaint = complaints[0] if complaints else "none"
        incident.complaint_last = last.complaint
        incident.severity = max((r.severity for r in rows), key=SEVERITIES.index)
        incident.message_count = len(rows)

    def _incident_id(self, s: Session, workspace: str, channel: str, thread_ts: str) -> int | None:
        return s.scalar(select(Incident.id).where(
            Incident.workspace == workspace, Incident.channel == channel, Incident.thread_ts == thread_ts))

    def record_agent_reply(self, workspace: str, channel: str, thread_ts: str, agent: str, nudged: bool) -> None:
        def work() -> None:
            with self._write() as s:
                incident_id = self._incident_id(s, workspace, channel, thread_ts)
                if incident_id is not None:  # a reply in a thread that is not a customer incident
                    s.add(AgentReply(incident_id=incident_id, agent=agent, nudged=nudged, at=self._now()))

        with_retry(work)

    def record_checklist_steps(self, incident_id: int, steps: Collection[str], source: str, by_user: str) -> list[str]:
        """Keep the method's steps an agent performed in words (bot/storage/checklist.py); returns the new ones."""
        from bot.storage.checklist import record_steps

        def work() -> list[str]:
            with self._write() as s:
                return record_steps(s, incident_id, steps, source, by_user, self._now())

        return with_retry(work) if steps else []

    def checklist(self, incident_id: int) -> frozenset[str]:
        """The steps of "a complaint is a gift" this incident has done so far, words and buttons."""
        from bot.storage.checklist import steps_by_incident

        with self.read_session() as s:
            return steps_by_incident(s, [incident_id]).get(incident_id, frozenset())

    def record_suggestion_used(self, incident_id: int, kind: str, by_user: str) -> None:
        def work() -> None:
            with self._write() as s:
                s.add(SuggestionUse(incident_id=incident_id, kind=kind, by_user=by_user, at=self._now()))

        with_retry(work)

    def record_compensation(self, incident_id: int, option_id: str, offer: str, value: float, currency: str,
                            state: CompensationState, by_user: str, approver: str | None = None) -> int:
        _check_state(state)

        def work() -> int:
            with self._write() as s:
                now = self._now()
                row = Compensation(
                    incident_id=incident_id, option_id=option_id, offer=offer, value=value, currency=currency,
                    state=state, by_user=by_user, approver=approver, created_at=now, updated_at=now,
                    updated_by=by_user,
                )
                s.add(row)
                s.flush()
                return row.id

        return with_retry(work)

    def update_compensation(self, compensation_id: int, state: CompensationState, by_user: str) -> None:
        _check_state(state)
        values: dict = {"state": state, "updated_at": self._now(), "updated_by": by_user}
        if state in ("approved", "denied"):
            values["approver"] = by_user

        def work() -> None:
            with self._write() as s:
                result = s.execute(update(Compensation).where(Compensation.id == compensation_id).values(**values))
                if result.rowcount == 0:
                    raise LookupError(f"no compensation {compensation_id}")

        with_retry(work)

    def record_correction(self, incident_id: int, message_ts: str, tone: str | None, complaint: str | None,
                          by_user: str) -> None:
        """Keep the agent's correction and let it win over the model's label in stats and training."""
        def work() -> None:
            with self._write() as s:
                incident = s.scalars(select(Incident).where(Incident.id == incident_id).with_for_update()).one()
                s.add(Correction(incident_id=incident_id, message_ts=message_ts, tone=tone, complaint=complaint,
                                 by_user=by_user, at=self._now()))
                fixes: dict = {}
                if tone:
                    fixes["tone"] = tone
                if complaint:
                    fixes["complaint"] = complaint
                if fixes:
                    s.execute(update(IncidentMessage).where(
                        IncidentMessage.incident_id == incident_id, IncidentMessage.message_ts == message_ts
                    ).values(**fixes))
                    self._refresh_summary(s, incident)

        with_retry(work)

    def corrections_for_training(self) -> list[dict]:
        """Corrected messages with only the heads an agent corrected (the other head stays None, so the
        model's own guess is never fed back to it as a label)."""
        def corrected(column) -> object:
            return select(Correction.id).where(
                Correction.incident_id == IncidentMessage.incident_id,
                Correction.message_ts == IncidentMessage.message_ts, column.is_not(None)).exists()

        with self.read_session() as s:
            rows = s.execute(
                select(IncidentMessage.text, IncidentMessage.language, IncidentMessage.tone,
                       IncidentMessage.complaint, corrected(Correction.tone).label("tone_fixed"),
                       corrected(Correction.complaint).label("complaint_fixed"))
                .where(IncidentMessage.text.is_not(None))
                .where(select(Correction.id).where(
                    Correction.incident_id == IncidentMessage.incident_id,
                    Correction.message_ts == IncidentMessage.message_ts).exists())
                .order_by(IncidentMessage.id)
            ).all()
        return [{"text": r.text, "lang": r.language, "tone": r.tone if r.tone_fixed else None,
                 "complaint": r.complaint if r.complaint_fixed else None} for r in rows]

    # ----------------------------------------------------------------- follow-ups
    def resolve_incident(self, incident_id: int, by_user: str, follow_ups: list[FollowUpItem],
                         now: datetime | None = None) -> None:
        """Close the incident once (a second resolve is a no-op) and schedule its follow-ups for `by_user`."""
        resolved_at = to_utc(now) if now is not None else self._now()

        def work() -> None:
            with self._write() as s:
                result = s.execute(
                    update(Incident).where(Incident.id == incident_id, Incident.status == "open")
                    .values(status="resolved", resolved_at=resolved_at, resolved_by=by_user)
                )
                if result.rowcount == 0:
                    if s.get(Incident, incident_id) is None:
                        raise LookupError(f"no incident {incident_id}")
                    return
                incident = s.get_one(Incident, incident_id)
                for item in follow_ups:
                    s.add(FollowUp(incident_id=incident_id, owner=by_user, when_spec=item.when,
                                   action=redact(item.action), due_at=due_at(item.when, resolved_at),
                                   created_at=resolved_at, attempts=0))
                    if is_internal(item.when):
                        note = (f"{incident.complaint} ({incident.severity}), tone {incident.tone_first} -> "
                                f"{incident.tone_last}: {item.action}")
                        s.add(CustomerFlag(workspace=incident.workspace, customer=incident.customer,
                                           incident_id=incident_id, note=redact(note), at=resolved_at))

        with_retry(work)

    def claim_due_follow_ups(self, now: datetime, worker: str, limit: int = 50) -> list[DueFollowUp]:
        """Claim up to `limit` due follow-ups for `worker`; no two workers ever get the same one."""
        now = to_utc(now)
        stale = now - self.claim_timeout
        claimable = and_(FollowUp.sent_at.is_(None), FollowUp.due_at <= now,
                         or_(FollowUp.claimed_by.is_(None), FollowUp.claimed_at < stale))

        def work() -> list[DueFollowUp]:
            with self._write() as s:
                # PostgreSQL: skip rows another worker is claiming right now (SQLite has one writer anyway)
                ids = s.scalars(select(FollowUp.id).where(claimable).order_by(FollowUp.due_at, FollowUp.id)
                                .limit(limit).with_for_update(skip_locked=True)).all()
                won: list[int] = []
                for follow_up_id in sorted(ids):  # one order for every worker: no deadlocks
                    result = s.execute(
                        update(FollowUp).where(FollowUp.id == follow_up_id, claimable)
                        .values(claimed_by=worker, claimed_at=now, attempts=FollowUp.attempts + 1)
                    )
                    if result.rowcount == 1:
                        won.append(follow_up_id)
                return self._due(s, FollowUp.id.in_(won)) if won else []

        return with_retry(work)

    def mark_follow_up_sent(self, follow_up_id: int) -> None:
        def work() -> None:
            with self._write() as s:
                s.execute(update(FollowUp).where(FollowUp.id == follow_up_id, FollowUp.sent_at.is_(None))
                          .values(sent_at=self._now()))

        with_retry(work)

    def release_follow_up(self, follow_up_id: int) -> None:
        """Give a claim back after a failed delivery so the next poll retries it."""
        def work() -> None:
            with self._write() as s:
                s.execute(update(FollowUp).where(FollowUp.id == follow_up_id, FollowUp.sent_at.is_(None))
                          .values(claimed_by=None, claimed_at=None))

        with_retry(work)

    def due_follow_ups(self, now: datetime, owner: str | None = None,
                       workspace: str | None = None) -> list[DueFollowUp]:
        condition = and_(FollowUp.sent_at.is_(None), FollowUp.due_at <= to_utc(now))
        if owner is not None:
            condition = and_(condition, FollowUp.owner == owner)
        if workspace is not None:  # multi-workspace mode: only the asking workspace's
            condition = and_(condition, Incident.workspace == workspace)
        with self.read_session() as s:
            return self._due(s, condition)

    def follow_up_state(self, follow_up_id: int) -> dict:
        """Where one follow-up stands (for the App Home and for tests)."""
        with self.read_session() as s:
            row = s.get_one(FollowUp, follow_up_id)
            return {"due_at": row.due_at, "claimed_by": row.claimed_by, "attempts": row.attempts,
                    "sent_at": row.sent_at, "state": "sent" if row.sent_at else ("claimed" if row.claimed_by else "pending")}

    def _due(self, s: Session, condition) -> list[DueFollowUp]:  # type: ignore[no-untyped-def]
        rows = s.execute(
            select(FollowUp, Incident.channel, Incident.thread_ts, Incident.workspace)
            .join(Incident, Incident.id == FollowUp.incident_id)
            .where(condition).order_by(FollowUp.due_at, FollowUp.id)
        ).all()
        return [
            DueFollowUp(id=f.id, incident_id=f.incident_id, owner=f.owner, when=f.when_spec, action=f.action,
                        due_at=f.due_at, channel=channel, thread_ts=thread_ts, workspace=workspace)
            for f, channel, thread_ts, workspace in rows
        ]

    # ----------------------------------------------------------------- reading
    def incident_for_thread(self, workspace: str, channel: str, thread_ts: str) -> IncidentSummary | None:
        with self.read_session() as s:
            incident = s.scalars(select(Incident).where(
                Incident.workspace == workspace, Incident.channel == channel, Incident.thread_ts == thread_ts
            )).one_or_none()
            return self._summaries(s, [incident])[0] if incident else None

    def thread_labels_before(self, workspace: str, channel: str, thread_ts: str, before_ts: str,
                             inclusive: bool = False) -> list[StoredLabels]:
        """The stored labels of the thread's customer messages sent before `before_ts` (`inclusive`: up to and
        including it), oldest first; deleted ones left out (the customer took them back). What the live card's
        thread rule and the thread plans read: no inference again, and an agent's correction wins."""
        sent_before = operator.le if inclusive else operator.lt
        with self.read_session() as s:
            rows = s.execute(
                select(IncidentMessage).join(Incident, Incident.id == IncidentMessage.incident_id)
                .where(Incident.workspace == workspace, Incident.channel == channel, Incident.thread_ts == thread_ts)
                .order_by(IncidentMessage.at, IncidentMessage.id)
            ).scalars().all()
            return [StoredLabels(message_ts=m.message_ts, language=m.language, tone=m.tone,
                                 tone_confidence=m.tone_confidence, tone_corrected=m.tone != m.model_tone,
                                 complaint=m.complaint, complaint_confidence=m.complaint_confidence,
                                 complaint_corrected=m.complaint != m.model_complaint)
                    for m in rows if m.text != DELETED_TEXT and sent_before(float(m.message_ts), float(before_ts))]

    def customer_history(self, workspace: str, customer_id: str, limit: int = 5) -> list[IncidentSummary]:
        customer = self._pseudonym(customer_id)
        with self.read_session() as s:
            incidents = s.scalars(
                select(Incident).where(Incident.workspace == workspace, Incident.customer == customer)
                .order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(limit)
            ).all()
            return self._summaries(s, incidents)

    def agent_open_threads(self, agent: str, workspace: str | None = None, limit: int = 10,
                           history: int = 5) -> list[tuple[IncidentSummary, list[IncidentSummary]]]:
        """The agent's open customer threads (a card was shown to them, or they replied), latest first, each with
        the customer's other incidents (found by the stored pseudonym, most recent first) for App Home's memory."""
        with self.read_session() as s:
            query = select(Incident).where(Incident.status == "open")
            if workspace:
                query = query.where(Incident.workspace == workspace)
            candidates = s.scalars(query.order_by(Incident.last_message_at.desc(), Incident.id.desc()).limit(500)).all()
            ids = [i.id for i in candidates]
            theirs = set(s.scalars(select(AgentReply.incident_id).where(AgentReply.agent == agent,
                                                                         AgentReply.incident_id.in_(ids))))
            for incident_id, shown_to in s.execute(select(IncidentMessage.incident_id, IncidentMessage.shown_to)
                                                   .where(IncidentMessage.incident_id.in_(ids))):
                if agent in (shown_to or []):
                    theirs.add(incident_id)
            out = []
            for incident in [i for i in candidates if i.id in theirs][:limit]:
                others = s.scalars(select(Incident).where(
                    Incident.workspace == incident.workspace, Incident.customer == incident.customer,
                    Incident.id != incident.id).order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(history)).all()
                out.append((self._summaries(s, [incident])[0], self._summaries(s, others)))
            return out

    def incidents_since(self, since: datetime, workspace: str | None = None) -> list[IncidentSummary]:
        """Incidents opened since `since`; with `workspace`, only that workspace's (multi-workspace mode)."""
        with self.read_session() as s:
            query = select(Incident).where(Incident.opened_at >= to_utc(since))
            if workspace is not None:
                query = query.where(Incident.workspace == workspace)
            incidents = s.scalars(query.order_by(Incident.opened_at, Incident.id)).all()
            return self._summaries(s, incidents)

    def _summaries(self, s: Session, incidents: Sequence[Incident]) -> list[IncidentSummary]:
        """Summaries with notes for the next agent: flags, compensations, corrections, resolution."""
        ids = [i.id for i in incidents]
        notes: dict[int, list[str]] = defaultdict(list)
        for flag in s.scalars(select(CustomerFlag).where(CustomerFlag.incident_id.in_(ids)).order_by(CustomerFlag.id)):
            notes[flag.incident_id].append(f"Flagged: {flag.note}")
        for comp in s.scalars(select(Compensation).where(Compensation.incident_id.in_(ids)).order_by(Compensation.id)):
            notes[comp.incident_id].append(f"Compensation '{comp.offer}' ({comp.value:g} {comp.currency}): {comp.state}")
        for fix in s.scalars(select(Correction).where(Correction.incident_id.in_(ids)).order_by(Correction.id)):
            changed = ", ".join(f"{k} -> {v}" for k, v in (("tone", fix.tone), ("complaint", fix.complaint)) if v)
            notes[fix.incident_id].append(f"Corrected by {fix.by_user}: {changed}")
        out = []
        for i in incidents:
            extra = [f"Resolved by {i.resolved_by} on {i.resolved_at:%Y-%m-%d %H:%M} UTC"] if i.resolved_at else []
            out.append(IncidentSummary(
                id=i.id, channel=i.channel, thread_ts=i.thread_ts, severity=i.severity, complaint=i.complaint,
                tone_first=i.tone_first, tone_last=i.tone_last, opened_at=i.opened_at, status=i.status,
                notes=notes[i.id] + extra,
            ))
        return out

    # ----------------------------------------------------------------- retention
    def purge_expired_text(self, now: datetime) -> int:
        """Blank customer text older than the retention period; returns how many messages were blanked."""
        cutoff = to_utc(now) - timedelta(days=self.text_retention_days)

        def work() -> int:
            with self._write() as s:
                result = s.execute(update(IncidentMessage)
                                   .where(IncidentMessage.at < cutoff, IncidentMessage.text.is_not(None))
                                   .values(text=None))
                return result.rowcount or 0

        return with_retry(work)

    def housekeeping(self, now: datetime, keep_events: timedelta = timedelta(days=7)) -> dict[str, int]:
        """Periodic cleanup (the follow-up scheduler runs it hourly): text retention, old event ids, and
        the per-thread state (engaged agents, cards) of threads idle longer than `thread_state_days`."""
        return {"texts_blanked": self.purge_expired_text(now),
                "events_forgotten": self.forget_events_before(to_utc(now) - keep_events),
                **self.thread_cards.forget_idle_threads(to_utc(now) - timedelta(days=self.thread_state_days))}

    # ----------------------------------------------------------------- playbook versions
    def save_playbook_version(self, yaml_text: str, author: str, note: str = "") -> PlaybookVersion:
        """Append the next version number; a concurrent save that takes the same number retries."""
        for _ in range(10):
            try:
                with self._write() as s:
                    latest = s.scalar(select(func.max(PlaybookVersionRow.version))) or 0
                    row = PlaybookVersionRow(version=latest + 1, yaml_text=yaml_text, author=author,
                                             created_at=self._now(), note=note)
                    s.add(row)
                return _version(row)
            except IntegrityError:
                continue
        raise RuntimeError("could not save the playbook version: too many concurrent saves")

    def rollback_playbook(self, version: int, author: str) -> PlaybookVersion:
        """Make an old version current again, as a new version (history is never rewritten)."""
        old = self.playbook_version(version)
        if old is None:
            raise LookupError(f"no playbook version {version}")
        return self.save_playbook_version(old.yaml_text, author, note=f"rollback to v{version}")

    def current_playbook(self) -> PlaybookVersion | None:
        with self.read_session() as s:
            row = s.scalars(select(PlaybookVersionRow).order_by(PlaybookVersionRow.version.desc()).limit(1)).first()
            return _version(row) if row else None

    def playbook_history(self, limit: int = 20) -> list[PlaybookVersion]:
        with self.read_session() as s:
            rows = s.scalars(select(PlaybookVersionRow).order_by(PlaybookVersionRow.version.desc()).limit(limit))
            return [_version(r) for r in rows]

    def playbook_version(self, version: int) -> PlaybookVersion | None:
        with self.read_session() as s:
            row = s.get(PlaybookVersionRow, version)
            return _version(row) if row else None

    # ----------------------------------------------------------------- audit
    def record_audit(self, actor: str, action: str, detail: str, allowed: bool) -> None:
        """Who did what, allowed or refused; the detail is redacted in case it quotes a customer."""
        def work() -> None:
            with self._write() as s:
                s.add(AuditEntry(at=self._now(), actor=actor, action=action, detail=redact(detail), allowed=allowed))

        with_retry(work)

    def audit_log(self, limit: int = 100) -> list[AuditRecord]:
        with self.read_session() as s:
            rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
            return [AuditRecord(r.at, r.actor, r.action, r.detail, r.allowed) for r in rows]

    # ----------------------------------------------------------------- edits and deletions (issue 13, 1b)
    def customer_message(self, workspace: str, channel: str, message_ts: str) -> StoredMessage | None:
        """The stored customer message with this ts (labels only), or None when it is not an incident's."""
        with self.read_session() as s:
            row = s.execute(
                select(IncidentMessage, Incident.thread_ts).join(Incident, Incident.id == IncidentMessage.incident_id)
                .where(Incident.workspace == workspace, Incident.channel == channel,
                       IncidentMessage.message_ts == message_ts)
            ).first()
        if row is None:
            return None
        message, thread_ts = row
        return StoredMessage(incident_id=message.incident_id, thread_ts=thread_ts, message_ts=message.message_ts,
                             tone=message.tone, complaint=message.complaint, model_tone=message.model_tone,
                             model_complaint=message.model_complaint, deleted=message.text == DELETED_TEXT)

    def _locked_message(self, s: Session, workspace: str, channel: str,
                        message_ts: str) -> tuple[Incident, IncidentMessage] | None:
        found = s.execute(
            select(IncidentMessage.id, IncidentMessage.incident_id).join(Incident, Incident.id == IncidentMessage.incident_id)
            .where(Incident.workspace == workspace, Incident.channel == channel, IncidentMessage.message_ts == message_ts)
        ).first()
        if found is None:
            return None
        incident = s.scalars(select(Incident).where(Incident.id == found.incident_id).with_for_update()).one()
        return incident, s.get_one(IncidentMessage, found.id)

    def update_customer_message(self, workspace: str, channel: str, message_ts: str, text: str,
                                classification: Classification, plan: RecoveryPlan | None = None) -> bool:
        """A customer edited a message: new text (redacted) and model labels; an agent's correction of a
        label stays. With `plan` (the edit changed tone or complaint) the stored plan and severity follow."""
        redacted = redact(text)
        stored_text = redacted if self.text_retention_days > 0 else None
        stored_plan = scrub_plan(plan, text, redacted) if plan is not None else None

        def work() -> bool:
            with self._write() as s:
                found = self._locked_message(s, workspace, channel, message_ts)
                if found is None:
                    return False
                incident, message = found
                fixed = s.execute(select(Correction.tone, Correction.complaint).where(
                    Correction.incident_id == incident.id, Correction.message_ts == message_ts)).all()
                tone_fixed = any(t for t, _ in fixed)
                complaint_fixed = any(c for _, c in fixed)
                message.text = stored_text
                message.language = classification.language
                message.model_tone, message.tone_confidence = classification.tone.label, classification.tone.confidence
                message.model_complaint = classification.complaint.label
                message.complaint_confidence = classification.complaint.confidence
                if not tone_fixed:
                    message.tone = classification.tone.label
                if not complaint_fixed:
                    message.complaint = classification.complaint.label
                if plan is not None:
                    message.plan, message.severity = stored_plan, plan.severity
                self._refresh_summary(s, incident)
                return True

        return with_retry(work)

    def redact_deleted_message(self, workspace: str, channel: str, message_ts: str) -> bool:
        """A customer deleted a message: its text becomes a marker, the details the plan quoted go; the labels
        stay for the stats. Product and order reference go too when this was the incident's only message."""
        def work() -> bool:
            with self._write() as s:
                found = self._locked_message(s, workspace, channel, message_ts)
                if found is None:
                    return False
                incident, message = found
                message.text = DELETED_TEXT
                message.plan = {**(message.plan or {}), "details_found": {}, "why": []}
                if incident.message_count <= 1:
                    incident.product = incident.order_ref = None
                return True

        return with_retry(work)

    # ----------------------------------------------------------------- inbox and interactions (issue 13, 2 and 5)
    # each built once per store, on first use (functools.cached_property writes it into the instance)
    @cached_property
    def inbox(self) -> Inbox:
        """The durable inbox of Slack events on this database (bot/storage/inbox.py)."""
        return Inbox(self._write_sessions, self._read_sessions, self._clock)

    @cached_property
    def once_keys(self) -> OnceKeys:
        """Keys of interactions already handled (replayed buttons and commands run once)."""
        return OnceKeys(self._write_sessions, self._clock)

    @cached_property
    def workspace_configs(self) -> WorkspaceConfigs:
        """Per-workspace roles, coach channel and playbooks (bot/storage/workspace_config.py)."""
        from bot.storage.workspace_config import WorkspaceConfigs

        return WorkspaceConfigs(self._write_sessions, self._read_sessions, self._clock)

    @cached_property
    def thread_cards(self) -> ThreadCards:
        """Engaged agents, on-duty lists and the card each agent holds per thread (bot/storage/thread_cards.py)."""
        from bot.storage.thread_cards import ThreadCards

        return ThreadCards(self._write_sessions, self._read_sessions, self._clock)

    @cached_property
    def customers(self) -> Customers:
        """Customer lifetime values from `coach customers import` (bot/storage/customers.py)."""
        from bot.storage.customers import Customers

        return Customers(self._write_sessions, self._read_sessions, self._pseudonym, self._clock)


def _check_state(state: str) -> None:
    if state not in COMPENSATION_STATES:
        raise ValueError(f"compensation state must be one of {', '.join(COMPENSATION_STATES)}")


def _version(row: PlaybookVersionRow) -> PlaybookVersion:
    return PlaybookVersion(version=row.version, yaml_text=row.yaml_text, author=row.author,
                           created_at=row.created_at, note=row.note)
