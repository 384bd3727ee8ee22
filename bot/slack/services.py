"""What every listener needs, built once per app and passed explicitly (no module globals)."""
from __future__ import annotations

import os
import random
import socket
import threading
import time
import traceback
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from slack_sdk import WebClient

from bot.engine import RecoveryEngine
from bot.playbook import parse_playbook
from bot.settings import PROJECT_ROOT, Settings
from bot.slack import metrics
from bot.slack.logging import get_logger
from bot.slack.resilience import safe_call
from bot.slack.roles import RoleResolver
from bot.storage.api import PlaybookVersion, Store
from bot.storage.inbox import InboxEntry, Spool

log = get_logger("slack.services")


class BoundedExecutor:
    """A thread pool with a bounded queue, separate from Bolt's listener pool.

    Inference is CPU-bound and slow next to Slack's 3-second ack budget: listeners ack first and hand
    the work here. When the queue is full, `submit` refuses (returns None) instead of growing memory
    without bound; the caller logs the drop.
    """

    def __init__(self, workers: int, queue: int, name: str = "coach-inference"):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(workers + queue)
        self.capacity = workers + queue
        self._in_flight = 0
        self._count = threading.Lock()
        self.closed = False

    @property
    def in_flight(self) -> int:
        """Tasks running or waiting (read by /readyz and by the inbox worker, which leaves room for others)."""
        return self._in_flight

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future | None:
        if self.closed or not self._slots.acquire(blocking=False):
            log.warning("inference queue full: work dropped", extra={"task": getattr(fn, "__name__", "?")})
            metrics.inference_queue_full()
            return None
        with self._count:
            self._in_flight += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception:  # a failed task must never take the worker down
                log.exception("background task failed", extra={"task": getattr(fn, "__name__", "?")})
                return None
            finally:
                with self._count:
                    self._in_flight -= 1
                self._slots.release()

        try:
            return self._pool.submit(run)
        except RuntimeError:  # shut down between the check and the submit
            with self._count:
                self._in_flight -= 1
            self._slots.release()
            return None

    def shutdown(self, wait: bool = True) -> None:
        self.closed = True
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


class PlaybookSync:
    """Keeps this worker's engine on the database's current playbook version (hot reload).

    Every worker calls `maybe_reload` on each incoming request; it reads the current version number
    at most once per `interval` seconds, and parses and swaps only when the number changed.
    """

    def __init__(self, store: Store, engine: RecoveryEngine, interval: float, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.engine = engine
        self.interval = interval
        self.clock = clock
        self.version: int | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def bootstrap(self, source_text: str) -> None:
        """First worker saves the shipped playbook as version 1; every worker then loads the current one."""
        if self.store.current_playbook() is None:
            self.store.save_playbook_version(source_text, author="system", note="initial playbook from file")
        self.maybe_reload(force=True)

    def maybe_reload(self, force: bool = False) -> bool:
        now = self.clock()
        with self._lock:
            if not force and now - self._checked_at < self.interval:
                return False
            self._checked_at = now
        try:
            current = self.store.current_playbook()
        except Exception:
            log.exception("playbook check failed")
            return False
        if current is None or current.version == self.version:
            return False
        return self._load(current)

    def _load(self, version: PlaybookVersion) -> bool:
        try:
            playbook = parse_playbook(version.yaml_text, f"playbook v{version.version}")
        except Exception:
            log.exception("stored playbook does not parse; keeping the live one", extra={"version": version.version})
            self.version = version.version  # do not retry the same broken version on every request
            return False
        self.engine.replace_playbook(playbook)
        self.version = version.version
        log.info("playbook loaded", extra={"version": version.version, "author": version.author})
        return True

    def apply(self, yaml_text: str, author: str, note: str = "") -> PlaybookVersion:
        """Validate, version and make live; raises PlaybookError (and changes nothing) when invalid."""
        playbook = parse_playbook(yaml_text, "uploaded playbook")
        saved = self.store.save_playbook_version(yaml_text, author=author, note=note)
        self.engine.replace_playbook(playbook)
        self.version = saved.version
        log.info("playbook replaced", extra={"version": saved.version, "author": author})
        return saved


class NotYet(RuntimeError):
    """The item depends on another that is not done yet (an edit that arrived before its message): try later."""


class InboxUnavailable(RuntimeError):
    """Neither the database nor the spool took the event: answer Slack with an error so it retries."""


def spool_path(settings: Settings) -> Path:
    """COACH_INBOX_SPOOL, else next to a SQLite database (one spool per database), else var/inbox-spool.jsonl."""
    if settings.coach_inbox_spool is not None:
        return settings.coach_inbox_spool
    url = settings.coach_database_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        database = Path(url.removeprefix("sqlite:///"))
        return database.with_name(database.name + ".spool.jsonl")
    return PROJECT_ROOT / "var" / "inbox-spool.jsonl"


def _where(exc: BaseException) -> str:
    """file:line where an exception was raised: enough to find a bug, without its message (which may quote text)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


class InboxWorker:
    """Drains the durable inbox (bot/storage/inbox.py) into the bounded executor, with retries.

    The request side (`accept`) stores the event before the 200, or spools it when the database refuses.
    A poller thread (every `coach_inbox_poll_seconds`, and at once when woken) replays the spool, then
    hands due rows to the executor, leaving a quarter of its slots to other work (/recover). A task claims
    its row only when it starts, so a queued task that never runs (shutdown) holds nothing. A handler that
    raises is retried with exponential backoff (SideUnknown, Slack unavailable, database errors, anything),
    until `coach_delivery_give_up_seconds` after Slack sent the event; then the row fails and the event id
    is logged. When the outcome itself cannot be written (database down), it is kept here and written
    once the database answers; the lease stops other workers from redoing the item meanwhile.
    """

    def __init__(self, store: Store, executor: BoundedExecutor, spool: Spool, settings: Settings,
                 name: str | None = None) -> None:
        self.store = store
        self.executor = executor
        self.spool = spool
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=settings.coach_inbox_lease_seconds)
        self.give_up_after = timedelta(seconds=settings.coach_delivery_give_up_seconds)
        self.base_delay, self.max_delay = settings.coach_retry_base_seconds, settings.coach_retry_max_seconds
        self.poll_seconds = settings.coach_inbox_poll_seconds
        self.keep = timedelta(days=settings.coach_inbox_keep_days)
        self.reserve = max(1, executor.capacity // 4)
        self.handlers: dict[str, Callable[[InboxEntry], None]] = {}
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._deferred: list[tuple[InboxEntry | None, Callable[[], bool]]] = []
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._database_ok = True
        self._cleaned_at = float("-inf")

    # ---- request side ------------------------------------------------------------------------
    def accept(self, event_id: str, kind: str, payload: dict[str, Any], channel: str | None = None,
               message_ts: str | None = None, received_at: datetime | None = None,
               first_attempt_at: datetime | None = None) -> int | None:
        """Make the event durable: its new row id; None for a known event id or a spooled event.

        Raises InboxUnavailable when neither the database nor the spool took it (nothing was promised).
        """
        try:
            item = self.store.inbox.put(event_id, kind, payload, channel, message_ts, received_at, first_attempt_at)
        except Exception as exc:  # the database is down, full or locked for good
            record = {"event_id": event_id, "kind": kind, "channel": channel, "message_ts": message_ts,
                      "received_at": (received_at or datetime.now(timezone.utc)).isoformat(), "payload": payload}
            try:
                self.spool.append(record)
            except OSError as spool_error:
                log.error("event refused: database and spool both unavailable", extra={
                    "event_id": event_id, "kind": kind, "error": type(exc).__name__,
                    "spool_error": type(spool_error).__name__})
                metrics.event_dropped("refused")
                raise InboxUnavailable(event_id) from None
            log.warning("database unavailable: event spooled", extra={
                "event_id": event_id, "kind": kind, "error": type(exc).__name__})
            return None
        if item is None:
            log.info("duplicate event ignored", extra={"event_id": event_id, "kind": kind})
            metrics.event_deduplicated(payload.get("workspace"))
        return item

    def kick(self, item_id: int) -> bool:
        """Start this item now if there is room (the fast path after the ack); else the poller gets it."""
        return self._submit(item_id)

    # ---- worker side -------------------------------------------------------------------------
    def handle(self, kind: str, handler: Callable[[InboxEntry], None]) -> None:
        self.handlers[kind] = handler

    def start(self) -> "InboxWorker":
        self._thread = threading.Thread(target=self._loop, name="coach-inbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def _room(self) -> int:
        return self.executor.capacity - self.reserve - self.executor.in_flight

    def _submit(self, item_id: int) -> bool:
        with self._lock:
            if item_id in self._queued or self._room() <= 0 or self.executor.closed:
                return False
            self._queued.add(item_id)
        if self.executor.submit(self._run, item_id) is None:
            with self._lock:
                self._queued.discard(item_id)
            return False
        return True

    def _loop(self) -> None:
        while not self._stopped.is_set() and not self.executor.closed:
            try:
                self.poll_once()
            except Exception as exc:
                self._database_down(exc)
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def poll_once(self) -> int:
        """Write kept outcomes, replay the spool, start due rows; returns how many rows were started."""
        self._flush_deferred()
        if self.spool.pending():
            replayed = self.spool.replay(self._put_spooled)
            if replayed:
                log.info("spool replayed", extra={"events": replayed})
        started = 0
        room = self._room()
        if room > 0:
            with self._lock:
                queued = set(self._queued)
            started = sum(self._submit(item_id) for item_id in self.store.inbox.due_ids(room, exclude=queued))
        if time.monotonic() - self._cleaned_at > 3600:
            self._cleaned_at = time.monotonic()
            now = datetime.now(timezone.utc)
            self.store.inbox.purge(now - self.keep)
            self.store.once_keys.purge(now)
        if not self._database_ok:
            self._database_ok = True
            log.info("database reachable again")
        return started

    def _put_spooled(self, record: dict[str, Any]) -> None:
        received = datetime.fromisoformat(record["received_at"]) if record.get("received_at") else None
        item = self.store.inbox.put(record["event_id"], record["kind"], record["payload"], record.get("channel"),
                                    record.get("message_ts"), received)
        log.info("spooled event replayed", extra={"event_id": record["event_id"], "duplicate": item is None})

    def _database_down(self, exc: BaseException) -> None:
        if self._database_ok:
            log.warning("database unavailable: inbox waits", extra={"error": type(exc).__name__})
        self._database_ok = False

    def _run(self, item_id: int) -> None:
        try:
            try:
                entry = self.store.inbox.claim(item_id, self.name, self.lease)
            except Exception as exc:
                self._database_down(exc)
                # the claim may have been committed though the answer was lost: give it back once reachable
                with self._lock:
                    self._deferred.append((None, lambda: self.store.inbox.release(item_id, self.name)))
                return
            if entry is not None:
                self.process(entry)
        finally:
            with self._lock:
                self._queued.discard(item_id)
            self._wake.set()  # a slot is free: let the poller fill it

    def process(self, entry: InboxEntry) -> None:
        """Run the item's handler once and record the outcome: done, retry later, or given up."""
        handler = self.handlers.get(entry.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for inbox kind {entry.kind!r}")
            handler(entry)
        except Exception as exc:
            self._retry(entry, exc)
        else:
            self._settle(entry, lambda: self.store.inbox.complete(entry.id, self.name))

    def _retry(self, entry: InboxEntry, exc: BaseException) -> None:
        error = type(exc).__name__
        now = datetime.now(timezone.utc)
        deadline = entry.received_at + self.give_up_after
        if now >= deadline:
            log.error("delivery given up", extra={
                "event_id": entry.event_id, "kind": entry.kind, "attempts": entry.attempts, "error": error,
                "where": _where(exc), "after_s": round((now - entry.received_at).total_seconds(), 1)})
            metrics.event_dropped("given_up")
            self._settle(entry, lambda: self.store.inbox.give_up(entry.id, self.name, error))
            return
        delay = min(self.max_delay, self.base_delay * 2 ** (entry.attempts - 1)) * random.uniform(0.5, 1.0)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            delay = max(delay, float(retry_after))
        due = min(now + timedelta(seconds=delay), deadline)
        log.warning("will retry", extra={
            "event_id": entry.event_id, "kind": entry.kind, "attempt": entry.attempts, "error": error,
            "where": _where(exc), "in_s": round((due - now).total_seconds(), 2)})
        self._settle(entry, lambda: self.store.inbox.retry_at(entry.id, self.name, due, error))

    def _settle(self, entry: InboxEntry, write: Callable[[], bool]) -> None:
        """Write an outcome; when the database is down, keep it and write it on a later poll."""
        try:
            if not write():
                log.warning("inbox claim lost before the outcome was written", extra={"event_id": entry.event_id})
        except Exception as exc:
            self._database_down(exc)
            with self._lock:
                self._deferred.append((entry, write))

    def _flush_deferred(self) -> None:
        with self._lock:
            pending, self._deferred = self._deferred, []
        for index, (entry, write) in enumerate(pending):
            try:
                write()
            except Exception:
                with self._lock:
                    self._deferred.extend(pending[index:])
                raise


@dataclass
class Services:
    settings: Settings
    engine: RecoveryEngine
    store: Store
    client: WebClient
    roles: RoleResolver
    inference: BoundedExecutor
    playbooks: PlaybookSync
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    coach_threads: dict[int, str] = field(default_factory=dict)   # incident id -> parent ts in the coach channel
    alerted: set[tuple[int, str]] = field(default_factory=set)    # (incident id, kind) already alerted here
    delivery: InboxWorker | None = None                           # the inbox worker (bot/slack/messages.py starts it)

    def dm_channel(self, user_id: str) -> str | None:
        response = safe_call("conversations.open", self.client.conversations_open, users=user_id)
        return (response.get("channel") or {}).get("id") if response else None
