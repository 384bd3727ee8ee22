"""Retention of the per-thread "less noise" state: idle threads' engaged agents and cards are deleted by
housekeeping, active threads and on-duty lists are kept, and a second pass deletes nothing more."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from bot.storage.thread_cards import ChannelOnDuty, ThreadAgent, ThreadCard

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    """A settable clock, so rows can be written at chosen times."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def touch(store, clock: Clock, at: datetime, thread_ts: str, agent: str, card: bool = True) -> None:
    clock.now = at
    store.thread_cards.record_agent("T1", "C1", thread_ts, agent)
    if card:
        store.thread_cards.begin_card("T1", "C1", thread_ts, agent, f"{thread_ts}9", {"labels": []})


def rows(store) -> dict[str, object]:
    with store.read_session() as s:
        return {
            "agents": sorted(tuple(r) for r in s.execute(select(ThreadAgent.thread_ts, ThreadAgent.agent))),
            "cards": sorted(tuple(r) for r in s.execute(select(ThreadCard.thread_ts, ThreadCard.agent))),
            "on_duty": s.scalar(select(func.count()).select_from(ChannelOnDuty)),
        }


def test_idle_threads_forgotten_recent_kept_idempotent(make_store):
    clock = Clock(T0)
    store = make_store(thread_state_days=30, clock=clock)
    store.migrate()
    touch(store, clock, T0, "100.1", "U1")                           # idle thread: both rows go
    touch(store, clock, T0, "200.1", "U1")                           # old agent in a thread...
    touch(store, clock, T0 + timedelta(days=25), "200.1", "U2", card=False)  # ...another agent still active
    touch(store, clock, T0 + timedelta(days=20), "300.1", "U1")      # recent thread
    store.thread_cards.set_on_duty("T1", "C1", ["U1"], by="U9")     # configuration, set long ago

    now = T0 + timedelta(days=40)
    first = store.housekeeping(now)
    assert first["thread_cards_forgotten"] == 1 and first["thread_agents_forgotten"] == 1
    after = rows(store)
    assert after["agents"] == [("200.1", "U1"), ("200.1", "U2"), ("300.1", "U1")]
    assert after["cards"] == [("200.1", "U1"), ("300.1", "U1")]
    assert after["on_duty"] == 1
    assert store.thread_cards.engaged("T1", "C1", "100.1") == []

    again = store.housekeeping(now)
    assert again["thread_cards_forgotten"] == 0 and again["thread_agents_forgotten"] == 0
    assert rows(store) == after

    later = store.housekeeping(T0 + timedelta(days=60))  # everything idle now; on-duty still kept
    assert later["thread_cards_forgotten"] == 2 and later["thread_agents_forgotten"] == 3
    assert rows(store) == {"agents": [], "cards": [], "on_duty": 1}


def test_thread_state_days_comes_from_settings(monkeypatch, tmp_path):
    from bot.settings import Settings
    from bot.storage.store import SqlStore

    monkeypatch.setenv("COACH_THREAD_STATE_DAYS", "7")
    monkeypatch.setenv("COACH_DATABASE_URL", f"sqlite:///{tmp_path / 'c.sqlite'}")
    store = SqlStore.from_settings(Settings())
    try:
        assert store.thread_state_days == 7
    finally:
        store.close()
