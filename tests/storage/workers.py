"""What each worker process does in the concurrency tests (a module, so 'spawn' can import it)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from bot.coach.models import FollowUpItem
from bot.storage.store import SqlStore
from tests.storage import helpers

EVENTS = 120
THREADS = 8
SHARED = 4      # messages per thread that both workers record (a Slack redelivery seen by both)
OWN = 4         # messages per thread that only this worker records
FOLLOW_UPS_PER_INCIDENT = 10
PAUSE_S = 0.002  # a real worker does other work between writes; lets the other one in on SQLite
T0 = datetime(2026, 3, 18, 9, 0, tzinfo=timezone.utc)


def _at(thread: int, n: int) -> datetime:
    return T0 + timedelta(minutes=thread, seconds=n)


def _warm_up(store: SqlStore, book, name: str) -> None:  # type: ignore[no-untyped-def]
    """Compile the statements before the start line, so both workers really race."""
    store.claim_event(f"warm-up-{name}")
    helpers.record(store, book, f"warm-up-{name}", customer="U-warm", at=T0 - timedelta(days=1))


def run_worker(url: str, name: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    """Migrate, then race the other worker on events, incidents, messages and follow-up claims."""
    try:
        book = helpers.playbook()
        store = SqlStore(url)
        barrier.wait()
        store.migrate()  # both migrate at once: one does the work, the other finds it done
        _warm_up(store, book, name)
        barrier.wait()
        claimed = []
        for e in range(EVENTS):
            if store.claim_event(f"Ev{e}"):
                claimed.append(e)
            time.sleep(PAUSE_S)
        incident_ids: set[int] = set()
        for n in range(max(SHARED, OWN)):
            for thread in range(THREADS):
                thread_ts = f"1000.{thread:03d}"
                if n < SHARED:
                    incident_ids.add(helpers.record(store, book, thread_ts, f"{thread_ts}.s{n}",
                                                    customer=f"U{thread}", at=_at(thread, n)))
                if n < OWN:
                    incident_ids.add(helpers.record(store, book, thread_ts, f"{thread_ts}.{name}{n}",
                                                    customer=f"U{thread}", at=_at(thread, 10 + n)))
        barrier.wait()
        if name == "a":
            items = [FollowUpItem(when="now", action=f"step {k}") for k in range(FOLLOW_UPS_PER_INCIDENT)]
            for incident_id in sorted(incident_ids):
                store.resolve_incident(incident_id, "U0AGENT1", items, now=T0)
        store.claim_due_follow_ups(T0 - timedelta(days=1), f"worker-{name}")  # warm up: nothing is due yet
        barrier.wait()
        delivered: list[int] = []
        now = T0 + timedelta(minutes=1)
        while batch := store.claim_due_follow_ups(now, f"worker-{name}", limit=3):
            for item in batch:
                delivered.append(item.id)
                store.mark_follow_up_sent(item.id)
            time.sleep(PAUSE_S)
        store.close()
        results.put({"name": name, "claimed": claimed, "incidents": sorted(incident_ids), "delivered": delivered})
    except BaseException as exc:  # report, so the parent fails with the reason instead of hanging
        results.put({"name": name, "error": repr(exc)})
        raise
