"""Deliver due follow-ups: a database-polled scheduler, one per bot worker.

Why polling the follow_ups table rather than APScheduler with a database job store:
- it survives restarts for free: a follow-up is a row with a due time, written in the same
  transaction that resolves the incident; nothing lives only in a scheduler's memory;
- it is safe with several workers: APScheduler 3 does not support one job store shared by several
  scheduler processes (each would run the job), while here every poll *claims* rows with a
  conditional UPDATE, so exactly one worker gets each follow-up;
- there is no extra process or job serialisation to operate, on SQLite and PostgreSQL alike.
The cost is latency of up to one polling interval, which is nothing for reminders due in days.

Delivery is at-least-once towards the callback only if a worker dies between delivering and
marking sent; otherwise exactly once. A failed delivery releases the claim so the next poll retries,
and a claim left by a dead worker expires after the store's claim timeout.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from bot.storage.api import DueFollowUp
from bot.storage.tables import utc_now

log = logging.getLogger(__name__)

Deliver = Callable[[DueFollowUp], None]


class FollowUpQueue(Protocol):
    """What the scheduler needs of the store (SqlStore; `release_follow_up` is optional)."""

    def claim_due_follow_ups(self, now: datetime, worker: str, limit: int = 50) -> list[DueFollowUp]: ...
    def mark_follow_up_sent(self, follow_up_id: int) -> None: ...


def worker_name() -> str:
    """Unique per process start, so a restarted worker never mistakes an old claim for its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class FollowUpScheduler:
    """Every `interval_s` seconds: claim due follow-ups, call `deliver` on each, mark it sent.

    `deliver` raises to say the delivery failed (e.g. the Slack DM did not go out); the follow-up is
    then released and retried on a later poll. `housekeeping(now)` (e.g. `SqlStore.housekeeping`)
    runs at most once per `housekeeping_every`, for text retention and old event ids.
    """

    def __init__(
        self,
        store: FollowUpQueue,
        deliver: Deliver,
        interval_s: float = 30.0,
        worker: str | None = None,
        batch: int = 50,
        housekeeping: Callable[[datetime], object] | None = None,
        housekeeping_every: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.deliver = deliver
        self.interval_s = interval_s
        self.worker = worker or worker_name()
        self.batch = batch
        self.housekeeping = housekeeping
        self.housekeeping_every = housekeeping_every
        self._clock = clock
        self._last_housekeeping: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> int:
        """One poll; returns how many follow-ups were delivered."""
        now = now or self._clock()
        delivered = 0
        for item in self.store.claim_due_follow_ups(now, self.worker, self.batch):
            try:
                self.deliver(item)
            except Exception as exc:  # the callback's failure must not stop the others
                log.warning("follow-up %s delivery failed (%s); will retry", item.id, type(exc).__name__)
                release = getattr(self.store, "release_follow_up", None)
                if release is not None:  # else the claim simply times out
                    release(item.id)
                continue
            self.store.mark_follow_up_sent(item.id)
            delivered += 1
        self._maybe_housekeep(now)
        return delivered

    def _maybe_housekeep(self, now: datetime) -> None:
        if self.housekeeping is None:
            return
        if self._last_housekeeping is None or now - self._last_housekeeping >= self.housekeeping_every:
            self._last_housekeeping = now
            self.housekeeping(now)

    def start(self) -> None:
        """Poll in a daemon thread until `stop()`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"follow-ups {self.worker}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a database hiccup: log and poll again next time
                log.exception("follow-up poll failed")
            self._stop.wait(self.interval_s)
