"""Follow-ups survive a restart and reach their owner once, even with two schedulers on one database."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from bot.coach.models import FollowUpItem
from bot.storage.api import DueFollowUp
from bot.storage.followups import due_at
from bot.storage.scheduler import FollowUpScheduler, worker_name
from tests.storage.helpers import record

T0 = datetime(2026, 3, 18, 13, 30, tzinfo=timezone.utc)
STEPS = [FollowUpItem(when="now", action="Confirm the fix"), FollowUpItem(when="internal", action="Flag"),
         FollowUpItem(when="+3d", action="Check in")]


def test_due_times():
    assert due_at("now", T0) == T0 and due_at("internal", T0) == T0
    assert due_at("+3d", T0) == T0 + timedelta(days=3)
    assert due_at("+4h", T0) == T0 + timedelta(hours=4)
    assert due_at("someday", T0) == T0


def test_due_after_restart_is_delivered_once_with_two_schedulers(make_store, book):
    first = make_store()
    first.migrate()
    incident_id = record(first, book, "1.1")
    first.resolve_incident(incident_id, "U0AGENT1", STEPS, now=T0)
    sent: list[tuple[str, int]] = []
    immediate = FollowUpScheduler(first, lambda item: sent.append(("first", item.id)), worker="first")
    assert immediate.run_once(T0) == 2  # 'now' and 'internal'
    first.close()  # the bot restarts: new processes, new store instances, two workers

    lock = threading.Lock()

    def deliver_as(name: str):
        def deliver(item: DueFollowUp) -> None:
            with lock:
                sent.append((name, item.id))
        return deliver

    schedulers = [FollowUpScheduler(make_store(), deliver_as(n), worker=n) for n in ("w1", "w2")]
    assert [s.run_once(T0 + timedelta(days=1)) for s in schedulers] == [0, 0]  # not due yet
    start = threading.Barrier(2)
    counts: list[int] = []

    def poll(scheduler: FollowUpScheduler) -> None:
        start.wait()
        counts.append(scheduler.run_once(T0 + timedelta(days=3, minutes=1)))

    threads = [threading.Thread(target=poll, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(counts) == [0, 1]
    assert [s.run_once(T0 + timedelta(days=4)) for s in schedulers] == [0, 0]
    ids = [i for _, i in sent]
    assert len(ids) == 3 and len(set(ids)) == 3  # each follow-up exactly once
    later = schedulers[0].store.due_follow_ups(T0 + timedelta(days=5))  # type: ignore[attr-defined]
    assert later == []


def test_failed_delivery_is_retried_and_a_dead_workers_claim_expires(make_store, book):
    store = make_store(claim_timeout=timedelta(minutes=10))
    store.migrate()
    incident_id = record(store, book, "2.1")
    store.resolve_incident(incident_id, "U0AGENT1", [FollowUpItem(when="now", action="Confirm")], now=T0)
    [claimed] = store.claim_due_follow_ups(T0, "dead-worker")  # ...which then dies before delivering
    assert store.claim_due_follow_ups(T0 + timedelta(minutes=5), "w2") == []
    attempts = iter([RuntimeError("slack down"), None])

    def flaky(item: DueFollowUp) -> None:
        if (error := next(attempts)) is not None:
            raise error

    scheduler = FollowUpScheduler(store, flaky, worker="w2")
    assert scheduler.run_once(T0 + timedelta(minutes=11)) == 0  # claim expired, delivery failed, released
    assert store.follow_up_state(claimed.id)["state"] == "pending"
    assert scheduler.run_once(T0 + timedelta(minutes=12)) == 1
    state = store.follow_up_state(claimed.id)
    assert state["state"] == "sent" and state["attempts"] == 3 and state["claimed_by"] == "w2"


def test_background_thread_delivers_and_runs_housekeeping(make_store, book):
    store = make_store()
    store.migrate()
    incident_id = record(store, book, "3.1")
    store.resolve_incident(incident_id, "U0AGENT1", [FollowUpItem(when="now", action="Confirm")],
                           now=datetime.now(timezone.utc))
    delivered: list[DueFollowUp] = []
    housekeeping: list[datetime] = []
    scheduler = FollowUpScheduler(store, delivered.append, interval_s=0.05, housekeeping=housekeeping.append)
    scheduler.start()
    try:
        deadline = time.monotonic() + 5
        while not delivered and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scheduler.stop()
    assert [d.action for d in delivered] == ["Confirm"] and delivered[0].owner == "U0AGENT1"
    assert len(housekeeping) == 1  # hourly, not every poll
    assert worker_name() != worker_name()
