"""Two worker *processes* on one database lose nothing and duplicate nothing (SQLite file and PostgreSQL)."""
from __future__ import annotations

import multiprocessing
import queue
import time

from sqlalchemy import func, select

from bot.storage.store import SqlStore
from bot.storage.tables import FollowUp, Incident, IncidentMessage, ProcessedEvent
from tests.storage import workers


def _race(url: str, limit_s: float = 90.0) -> list[dict]:
    context = multiprocessing.get_context("spawn")  # fresh interpreters, like real workers
    barrier, results = context.Barrier(2, timeout=60), context.Queue()
    processes = [context.Process(target=workers.run_worker, args=(url, name, barrier, results)) for name in "ab"]
    for process in processes:
        process.start()
    outcome: list[dict] = []
    deadline = time.monotonic() + limit_s
    try:
        while len(outcome) < len(processes):
            try:
                outcome.append(results.get(timeout=0.5))
            except queue.Empty:
                crashed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
                assert not crashed and time.monotonic() < deadline, f"workers failed or hung (exit codes {crashed})"
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    errors = [o["error"] for o in outcome if "error" in o]
    assert not errors, errors
    return sorted(outcome, key=lambda o: o["name"])


def test_two_processes_lose_nothing_and_duplicate_nothing(db_url):
    a, b = _race(db_url)

    # claim_event: each event claimed exactly once overall
    assert set(a["claimed"]).isdisjoint(b["claimed"])
    assert sorted(a["claimed"] + b["claimed"]) == list(range(workers.EVENTS))

    # one incident per thread, both workers got the same ids; every distinct message once
    assert a["incidents"] == b["incidents"] and len(a["incidents"]) == workers.THREADS
    per_thread = workers.SHARED + 2 * workers.OWN
    with SqlStore(db_url) as store, store.read_session() as s:
        raced = Incident.thread_ts.not_like("warm-up-%")
        assert s.scalar(select(func.count()).select_from(Incident).where(raced)) == workers.THREADS
        assert s.scalar(select(func.count()).select_from(IncidentMessage).join(Incident).where(raced)) == (
            workers.THREADS * per_thread)
        assert s.scalar(select(func.count()).select_from(ProcessedEvent)
                        .where(ProcessedEvent.event_id.like("Ev%"))) == workers.EVENTS
        counts = s.scalars(select(Incident.message_count).where(raced)).all()
        assert counts == [per_thread] * workers.THREADS  # the summary saw every message: no lost update
        follow_ups = s.scalar(select(func.count()).select_from(FollowUp))
        unsent = s.scalar(select(func.count()).select_from(FollowUp).where(FollowUp.sent_at.is_(None)))

    # follow-ups: every one delivered, none by both workers
    assert follow_ups == workers.THREADS * workers.FOLLOW_UPS_PER_INCIDENT
    assert set(a["delivered"]).isdisjoint(b["delivered"])
    assert len(a["delivered"]) + len(b["delivered"]) == follow_ups
    assert unsent == 0
