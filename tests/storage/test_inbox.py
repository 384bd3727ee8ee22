"""The durable inbox, interaction keys and the spool, on SQLite and PostgreSQL (bot/storage/inbox.py)."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from bot.storage.inbox import Spool, once_key

LEASE = timedelta(seconds=30)


def _put(store, event_id: str = "Ev1", kind: str = "message", text: str = "I was charged twice", **kw):
    return store.inbox.put(event_id, kind, {"event": {"text": text}}, "C1", kw.pop("ts", "1.0"), **kw)


def test_an_event_id_is_stored_once(store):
    first = _put(store)
    assert isinstance(first, int)
    assert _put(store) is None  # Slack's retry of the same event
    assert store.inbox.counts() == {"pending": 1}


def test_a_claim_is_exclusive_until_its_lease_runs_out(store, make_store):
    other = make_store()  # a second worker on the same database
    item = _put(store)
    entry = store.inbox.claim(item, "w1", LEASE)
    assert entry is not None and entry.payload["event"]["text"] == "I was charged twice" and entry.attempts == 1
    assert other.inbox.claim(item, "w2", LEASE) is None
    assert store.inbox.due_ids(10) == []
    # w1 dies: once the lease has run out, w2 may take it
    late = make_store(clock=lambda: datetime.now(timezone.utc) + timedelta(minutes=1))
    taken = late.inbox.claim(item, "w2", LEASE)
    assert taken is not None and taken.attempts == 2
    assert store.inbox.complete(item, "w1") is False  # w1's outcome no longer counts
    assert late.inbox.complete(item, "w2") is True


def test_done_deletes_the_text_and_keeps_the_event_id(store):
    item = _put(store)
    store.inbox.claim(item, "w1", LEASE)
    assert store.inbox.complete(item, "w1")
    row = store.inbox.item("Ev1")
    assert row["state"] == "done" and row["has_payload"] is False
    assert _put(store) is None  # still recognised as a retry
    assert store.inbox.claim(item, "w1", LEASE) is None


def test_retry_makes_the_item_due_again_later_and_give_up_deletes_the_text(store):
    item = _put(store)
    store.inbox.claim(item, "w1", LEASE)
    store.inbox.retry_at(item, "w1", datetime.now(timezone.utc) + timedelta(minutes=5), "SlackUnavailable")
    assert store.inbox.due_ids(10) == []
    assert store.inbox.item("Ev1")["last_error"] == "SlackUnavailable"
    soon = store.inbox.put("Ev2", "card", {"card": {}}, first_attempt_at=datetime.now(timezone.utc) - timedelta(seconds=1))
    assert store.inbox.due_ids(10) == [soon]
    store.inbox.claim(soon, "w1", LEASE)
    store.inbox.give_up(soon, "w1", "SlackUnavailable")
    assert store.inbox.item("Ev2") | {"received_at": None, "finished_at": None, "id": None} == {
        "id": None, "kind": "card", "state": "failed", "attempts": 1, "has_payload": False,
        "last_error": "SlackUnavailable", "received_at": None, "finished_at": None}


def test_cancel_pending_spares_items_being_worked_on(store):
    _put(store, "Ev1", ts="5.0")
    busy = _put(store, "Ev2", kind="changed", ts="5.0")
    _put(store, "Ev3", ts="6.0")
    store.inbox.claim(busy, "w1", LEASE)
    assert store.inbox.cancel_pending("C1", "5.0", ("message", "changed")) == 1
    assert store.inbox.item("Ev1")["state"] == "cancelled" and not store.inbox.item("Ev1")["has_payload"]
    assert store.inbox.unfinished("C1", "5.0", ("message", "changed")) == 1
    assert store.inbox.item("Ev3")["state"] == "pending"


def test_purge_forgets_only_old_finished_rows(store):
    old, fresh = _put(store, "Ev1"), _put(store, "Ev2")
    for item in (old, fresh):
        store.inbox.claim(item, "w1", LEASE)
        store.inbox.complete(item, "w1")
    _put(store, "Ev3")
    assert store.inbox.purge(datetime.now(timezone.utc) + timedelta(seconds=1)) == 2
    assert store.inbox.counts() == {"pending": 1}


def test_concurrent_claims_give_each_item_to_one_worker(store, make_store):
    """Four workers (own engines) race for 40 items: every item claimed exactly once."""
    items = [_put(store, f"Ev{n}") for n in range(40)]
    workers = [make_store() for _ in range(4)]
    won: dict[str, list[int]] = {f"w{n}": [] for n in range(4)}
    start = threading.Barrier(4)

    def race(name: str, worker) -> None:
        start.wait()
        for item in items:
            if worker.inbox.claim(item, name, LEASE) is not None:
                won[name].append(item)

    threads = [threading.Thread(target=race, args=(f"w{n}", w)) for n, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for ids in won.values() for i in ids]
    assert sorted(claimed) == sorted(items)


def test_once_keys_claim_once_expire_and_release(store, make_store):
    key = once_key("action", "UAGENT1", "coach_resolved", "1700.1")
    assert store.once_keys.claim(key, timedelta(minutes=5)) is True
    assert make_store().once_keys.claim(key, timedelta(minutes=5)) is False  # another worker, same request
    later = make_store(clock=lambda: datetime.now(timezone.utc) + timedelta(minutes=6))
    assert later.once_keys.claim(key, timedelta(minutes=5)) is True  # outside the replay window
    forever = once_key("apology", "UAGENT1", 7, "C1", "1700.1")
    assert store.once_keys.claim(forever, None) is True
    assert later.once_keys.claim(forever, None) is False  # never expires
    store.once_keys.release(forever)
    assert store.once_keys.claim(forever, None) is True
    assert len(key) <= 128 and "UAGENT1" not in key


def test_spool_appends_durably_and_replays_once(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    for n in range(3):
        spool.append({"event_id": f"Ev{n}", "payload": {"text": "charged twice"}})
    assert (tmp_path / "spool.jsonl").stat().st_mode & 0o777 == 0o600
    seen: list[str] = []
    assert spool.replay(lambda record: seen.append(record["event_id"])) == 3
    assert seen == ["Ev0", "Ev1", "Ev2"] and not spool.pending()


def test_spool_keeps_what_a_failed_replay_did_not_take_and_skips_torn_lines(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    for n in range(4):
        spool.append({"event_id": f"Ev{n}"})
    with open(tmp_path / "spool.jsonl", "ab") as handle:
        handle.write(b'{"event_id": "Ev-torn", "payl')  # a crash in the middle of a write
    taken: list[str] = []

    def database_down_after_two(record: dict) -> None:
        if len(taken) == 2:
            raise ConnectionError("database down")
        taken.append(record["event_id"])

    with pytest.raises(ConnectionError):
        spool.replay(database_down_after_two)
    spool.append({"event_id": "Ev4"})  # arrives while the first batch waits
    assert spool.pending()
    rest: list[str] = []
    assert spool.replay(lambda record: rest.append(record["event_id"])) == 3
    assert taken == ["Ev0", "Ev1"] and sorted(rest) == ["Ev2", "Ev3", "Ev4"]
    assert not spool.pending()


def test_spool_append_fails_loudly_when_it_cannot_write(tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the spool's folder should be")
    with pytest.raises(OSError):
        Spool(blocked / "spool.jsonl").append({"event_id": "Ev1"})


def test_replayed_records_are_json_with_the_event_as_sent(tmp_path):
    spool = Spool(tmp_path / "s.jsonl")
    spool.append({"event_id": "Ev1", "payload": {"event": {"text": "где мой заказ"}}})
    line = (tmp_path / "s.jsonl").read_text(encoding="utf-8")
    assert json.loads(line)["payload"]["event"]["text"] == "где мой заказ"
