"""The durable inbox: no Slack event acknowledged with a 200 is lost, whatever fails after the ack.

Why a table written in the request, before the 200, rather than a claim plus an in-memory queue: the
old path claimed the event id and then handed the work to a bounded queue, so a full queue, a database
error or a restart lost a message Slack believed delivered (and Slack's retries were then discarded as
duplicates). Here the request only inserts a row (the unique event id is the deduplication); workers
drain pending rows with retries and backoff, a restarted worker finds them again, and several workers
share them through a claim with a lease: `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, the write
lock plus a conditional claim on SQLite.

When the database itself refuses the insert, the event goes to the `Spool`, an append-only local file
(fsync'd before the 200), replayed into the table once the database answers again.

Retention: the stored payload holds the customer's text because the worker needs it; it is set to NULL
the moment the item is done, given up or cancelled. The rows themselves (event id, kind, times, no text)
are deleted after `keep` (7 days by default), long after Slack has stopped retrying. The spool file holds
text only while the database is down and is deleted once replayed.

`OnceKeys` is the same idea for interactions: a button, command or form submission is handled once per
key (user, action, message), across replays and workers, by a primary key in the database.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.db import with_retry
from bot.storage.repository import Repository
from bot.storage.tables import InboxItem, InteractionKey, to_utc, utc_now

log = logging.getLogger(__name__)
PENDING, DONE, FAILED, CANCELLED = "pending", "done", "failed", "cancelled"


@dataclass(frozen=True)
class InboxEntry:
    """One claimed item, as the worker sees it."""

    id: int
    event_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int            # including this one
    received_at: datetime


class Inbox(Repository):
    """Rows of the `inbox` table; every method is one short transaction, safe from several workers."""

    def _claimable(self, now: datetime):  # type: ignore[no-untyped-def]
        return and_(InboxItem.state == PENDING, InboxItem.next_attempt_at <= now,
                    or_(InboxItem.lease_until.is_(None), InboxItem.lease_until < now))

    def put(self, event_id: str, kind: str, payload: dict[str, Any], channel: str | None = None,
            message_ts: str | None = None, received_at: datetime | None = None,
            first_attempt_at: datetime | None = None) -> int | None:
        """Store a new item and return its id; None when this event id is already known (a retry)."""
        now = self._now()
        due = to_utc(first_attempt_at) if first_attempt_at is not None else now
        received = to_utc(received_at) if received_at is not None else now
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))

        def work() -> int | None:
            try:
                with self._write_sessions.begin() as s:
                    row = InboxItem(event_id=event_id, kind=kind, channel=channel, message_ts=message_ts,
                                    payload=body, state=PENDING, attempts=0, received_at=received,
                                    next_attempt_at=due)
                    s.add(row)
                    s.flush()
                    return row.id
            except IntegrityError:
                return None

        return with_retry(work)

    def due_ids(self, limit: int, exclude: Iterable[int] = ()) -> list[int]:
        """Items a worker could claim now, oldest first (read only: the claim happens in `claim`)."""
        if limit <= 0:
            return []
        skip = set(exclude)
        with self._read_sessions() as s:
            ids = s.scalars(select(InboxItem.id).where(self._claimable(self._now()))
                            .order_by(InboxItem.next_attempt_at, InboxItem.id).limit(limit + len(skip))).all()
        return [i for i in ids if i not in skip][:limit]

    def claim(self, item_id: int, worker: str, lease: timedelta) -> InboxEntry | None:
        """Take the item for `lease`; None when it is done, not due, or another worker holds it.

        PostgreSQL: FOR UPDATE SKIP LOCKED, so a worker never waits behind another's claim. SQLite: the
        write transaction (BEGIN IMMEDIATE) serialises claimers and the condition re-checks the lease.
        """
        def work() -> InboxEntry | None:
            now = self._now()
            with self._write_sessions.begin() as s:
                row = s.scalars(select(InboxItem).where(InboxItem.id == item_id, self._claimable(now))
                                .with_for_update(skip_locked=True)).one_or_none()
                if row is None or row.payload is None:
                    return None
                row.claimed_by, row.lease_until, row.attempts = worker, now + lease, row.attempts + 1
                return InboxEntry(row.id, row.event_id, row.kind, json.loads(row.payload), row.attempts,
                                  row.received_at)

        return with_retry(work)

    def _settle(self, item_id: int, worker: str, **values: Any) -> bool:
        def work() -> bool:
            with self._write_sessions.begin() as s:
                result = s.execute(update(InboxItem).where(InboxItem.id == item_id, InboxItem.claimed_by == worker,
                                                           InboxItem.state == PENDING)
                                   .values(claimed_by=None, lease_until=None, **values))
                return (result.rowcount or 0) == 1

        return with_retry(work)

    def release(self, item_id: int, worker: str) -> bool:
        """Give back a claim this worker may hold without working on it: its claim's commit failed on the
        client side (the connection dropped) and may still have reached the database."""
        return self._settle(item_id, worker)

    def complete(self, item_id: int, worker: str) -> bool:
        """Done: the text goes at once. False when the claim was lost (the lease ran out)."""
        return self._settle(item_id, worker, state=DONE, payload=None, finished_at=self._now(), last_error=None)

    def retry_at(self, item_id: int, worker: str, at: datetime, error: str) -> bool:
        """Give the item back, due again at `at`."""
        return self._settle(item_id, worker, next_attempt_at=to_utc(at), last_error=error[:64])

    def give_up(self, item_id: int, worker: str, error: str) -> bool:
        """Failed for good (after the give-up time): the text goes too."""
        return self._settle(item_id, worker, state=FAILED, payload=None, finished_at=self._now(),
                            last_error=error[:64])

    def cancel_pending(self, channel: str, message_ts: str, kinds: tuple[str, ...]) -> int:
        """Cancel items about a message nobody is working on now (the customer deleted it)."""
        def work() -> int:
            now = self._now()
            with self._write_sessions.begin() as s:
                result = s.execute(update(InboxItem).where(
                    InboxItem.channel == channel, InboxItem.message_ts == message_ts, InboxItem.kind.in_(kinds),
                    InboxItem.state == PENDING, or_(InboxItem.lease_until.is_(None), InboxItem.lease_until < now),
                ).values(state=CANCELLED, payload=None, finished_at=now, claimed_by=None, lease_until=None))
                return result.rowcount or 0

        return with_retry(work)

    def unfinished(self, channel: str, message_ts: str, kinds: tuple[str, ...]) -> int:
        """How many items about this message are still pending or being worked on."""
        with self._read_sessions() as s:
            return s.scalar(select(func.count()).select_from(InboxItem).where(
                InboxItem.channel == channel, InboxItem.message_ts == message_ts, InboxItem.kind.in_(kinds),
                InboxItem.state == PENDING)) or 0

    def purge(self, finished_before: datetime) -> int:
        """Forget finished rows older than `finished_before` (their event ids stop deduplicating)."""
        def work() -> int:
            with self._write_sessions.begin() as s:
                result = s.execute(delete(InboxItem).where(InboxItem.state != PENDING,
                                                           InboxItem.finished_at < to_utc(finished_before)))
                return result.rowcount or 0

        return with_retry(work)

    def counts(self) -> dict[str, int]:
        """Rows per state (for readiness, the CLI and tests)."""
        with self._read_sessions() as s:
            return dict(s.execute(select(InboxItem.state, func.count()).group_by(InboxItem.state)).all())

    def item(self, event_id: str) -> dict[str, Any] | None:
        """One row by event id, without its payload (tests and operators)."""
        with self._read_sessions() as s:
            row = s.scalars(select(InboxItem).where(InboxItem.event_id == event_id)).one_or_none()
            if row is None:
                return None
            return {"id": row.id, "kind": row.kind, "state": row.state, "attempts": row.attempts,
                    "has_payload": row.payload is not None, "last_error": row.last_error,
                    "received_at": row.received_at, "finished_at": row.finished_at}


def once_key(kind: str, *parts: object) -> str:
    """A fixed-length key for `OnceKeys`: the kind in clear, the parts (user ids, values) hashed."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return f"{kind[:40]}:{digest[:64]}"


class OnceKeys:
    """Interaction keys: `claim` is True once per key (until it expires), across replays and workers."""

    def __init__(self, write_sessions: sessionmaker[Session], clock: Callable[[], datetime] = utc_now) -> None:
        self._write_sessions = write_sessions
        self._clock = clock

    def claim(self, key: str, ttl: timedelta | None) -> bool:
        """True for the first caller; an expired key is claimed afresh. `ttl` None: the key never expires."""
        def work() -> bool:
            now = to_utc(self._clock())
            expires = now + ttl if ttl is not None else None
            try:
                with self._write_sessions.begin() as s:
                    s.add(InteractionKey(key=key, created_at=now, expires_at=expires))
                return True
            except IntegrityError:
                pass
            with self._write_sessions.begin() as s:
                result = s.execute(update(InteractionKey).where(
                    InteractionKey.key == key, InteractionKey.expires_at.is_not(None), InteractionKey.expires_at <= now,
                ).values(created_at=now, expires_at=expires))
                return (result.rowcount or 0) == 1

        return with_retry(work)

    def release(self, key: str) -> None:
        """Forget a key whose action did not happen (Slack refused the post), so a new click can retry."""
        def work() -> None:
            with self._write_sessions.begin() as s:
                s.execute(delete(InteractionKey).where(InteractionKey.key == key))

        with_retry(work)

    def purge(self, now: datetime) -> int:
        def work() -> int:
            with self._write_sessions.begin() as s:
                result = s.execute(delete(InteractionKey).where(InteractionKey.expires_at.is_not(None),
                                                                InteractionKey.expires_at <= to_utc(now)))
                return result.rowcount or 0

        return with_retry(work)


class Spool:
    """Append-only JSON lines on local disk for events that arrived while the database refused them.

    `append` returns only after fsync, so the 200 that follows is a promise kept across a crash.
    Appends (from any process) hold an exclusive flock on the file and re-open it if it was renamed under
    them; `replay` renames the file aside under the same lock, so no append lands in a file being replayed.
    A line torn by a crash mid-write is skipped at replay (its event was not acknowledged).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._replaying = threading.Lock()

    def _open_current(self) -> int:
        while True:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)  # renamed by a replay between open and lock: take the new file

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably; raises OSError (disk full, read-only) when it could not."""
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = self._open_current()
            try:
                if os.write(fd, line) != len(line):
                    raise OSError("short write to the spool")
                os.fsync(fd)
            finally:
                os.close(fd)

    def _batches(self) -> list[Path]:
        return sorted(self.path.parent.glob(self.path.name + ".*.replaying"))

    def pending(self) -> bool:
        return self.path.exists() or bool(self._batches())

    def replay(self, put: Callable[[dict[str, Any]], None]) -> int:
        """Hand every spooled record to `put` (which must tolerate duplicates); returns how many.

        A `put` that raises stops the replay; the records not yet replayed stay spooled for next time.
        """
        if not self._replaying.acquire(blocking=False):
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # another worker (process or app) is replaying this spool right now
            if self.path.exists():
                with self._lock:
                    fd = self._open_current()
                    try:
                        os.rename(self.path, self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}.replaying"))
                    finally:
                        os.close(fd)
            done = 0
            for batch in self._batches():
                try:
                    lines = batch.read_bytes().splitlines()
                except FileNotFoundError:
                    continue
                for index, line in enumerate(lines):
                    try:
                        record = json.loads(line)
                    except ValueError:
                        log.warning("spool: torn line skipped", extra={"file": batch.name, "line": index + 1})
                        continue
                    try:
                        put(record)
                    except Exception:
                        _rewrite(batch, lines[index:])
                        raise
                    done += 1
                batch.unlink(missing_ok=True)
            return done
        finally:
            os.close(lock)  # releases the flock
            self._replaying.release()


def _rewrite(path: Path, lines: list[bytes]) -> None:
    """Keep only `lines` in `path` (atomically: a temporary file renamed over it)."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
