"""Issue 13, delivery rows: no acknowledged message is lost, replays run once (real Bolt app, fake Slack).

Each scenario of the issue's table, scaled down to run in seconds (the issue's figures in brackets):
- inference queue full while Slack is slow: 30 messages at 20 msg/s, 0.1 s per Slack call, 2 inference
  threads and 2 queue slots [200 at 20 msg/s, 1 s per call: 128 lost];
- SQLite "disk full" (every write refused) for 1.5 s during 40 messages at 20 msg/s [600: 125 lost];
- PostgreSQL down (a TCP proxy that cuts and refuses connections) for 1.5 s during 40 messages [800: 202 lost];
- a worker dies with rows pending and one claimed: a new worker finishes them all, no card twice;
- 429 / 5xx / timeouts on chat.postEphemeral for longer than the client's own retries: the card is re-delivered;
- a message that cannot be coached within the give-up time is given up with its event id in the log;
- a replayed "Send apology" and slash command, also delivered to two workers at once: processed once.
A message counts as lost unless it has its incident and every agent has exactly its one card.
"""
from __future__ import annotations

import copy
import functools
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

import tests.slack.conftest as harness
from bot.engine import RecoveryEngine
from bot.slack.driver import buttons
from bot.slack.resilience import build_web_client
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, FakeClassifier, card_for

pytestmark = pytest.mark.faults
FAST = {"coach_inbox_poll_seconds": 0.05, "coach_retry_base_seconds": 0.1, "coach_retry_max_seconds": 0.5}
COMPLAINTS = ["I was charged twice for order {n}", "My parcel {n} is still not here", "Item {n} arrived broken",
              "Hello, a question about order {n}"]


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def cards_per_message(fake) -> dict[tuple[str, str], int]:
    """(agent, message thread_ts) -> coaching cards delivered."""
    counts: dict[tuple[str, str], int] = {}
    for call in fake.calls_of("chat.postEphemeral"):
        if call.args.get("blocks"):
            key = (call.args["user"], call.args["thread_ts"])
            counts[key] = counts.get(key, 0) + 1
    return counts


def tally(bot, sent: list[str]) -> tuple[int, int]:
    """(lost, duplicated): a message is lost without its incident or without a card for every agent."""
    cards = cards_per_message(bot.fake)
    lost = duplicated = 0
    for ts in sent:
        incident = bot.services.store.incident_for_thread("TOURS", CHANNEL, ts)
        got = [cards.get((agent, ts), 0) for agent in AGENTS]
        lost += incident is None or min(got) == 0
        duplicated += max(got) > 1
    return lost, duplicated


def send_burst(bot, count: int, rate: float, during: Callable[[int], None] | None = None) -> tuple[list[str], list[float], list[int]]:
    """`count` customer messages (new threads) at `rate` per second; returns their ts, ack latencies, statuses."""
    sent, latencies, statuses = [], [], []
    for n in range(count):
        if during:
            during(n)
        started = time.monotonic()
        message, reply = bot.driver.message(CUSTOMER, COMPLAINTS[n % len(COMPLAINTS)].format(n=10000 + n), CHANNEL)
        latencies.append(time.monotonic() - started)
        statuses.append(reply.status)
        sent.append(message["ts"])
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    return sent, latencies, statuses


def drained(bot, sent: list[str], timeout: float) -> bool:
    return wait_until(lambda: tally(bot, sent)[0] == 0, timeout)


def logged(caplog, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == message]


def test_queue_full_while_slack_is_slow_loses_nothing(make_bot, settings, fake, tmp_path):
    bot = make_bot(settings_=settings.model_copy(update={
        **FAST, "coach_inference_workers": 2, "coach_inference_queue": 2}))
    fake.slow("chat.postEphemeral", 0.1)
    fake.slow("conversations.members", 0.1)
    sent, latencies, statuses = send_burst(bot, 30, rate=20)
    assert statuses == [200] * 30
    assert drained(bot, sent, timeout=40), tally(bot, sent)
    lost, duplicated = tally(bot, sent)
    print(f"\nFIGURE queue full + slow Slack: {lost} of {len(sent)} lost, {duplicated} duplicated, "
          f"ack max {max(latencies) * 1000:.0f} ms")
    assert (lost, duplicated) == (0, 0)
    assert max(latencies) < 1.0


class DiskFull:
    """SQLite refusing every write ("database or disk is full") while `until` is in the future."""

    def __init__(self) -> None:
        self.until = 0.0
        self.refused = 0

    def __call__(self, conn, cursor, statement: str, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if time.monotonic() < self.until and statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.refused += 1
            raise OperationalError(statement, None, sqlite3.OperationalError("database or disk is full"))


def test_sqlite_disk_full_spools_and_loses_nothing(make_bot, settings, tmp_path, caplog):
    spool = tmp_path / "spool" / "inbox.jsonl"
    bot = make_bot(settings_=settings.model_copy(update={**FAST, "coach_inbox_spool": spool}))
    fault = DiskFull()
    event.listen(bot.services.store._writer, "before_cursor_execute", fault)  # noqa: SLF001

    def outage(n: int) -> None:
        if n == 10:
            fault.until = time.monotonic() + 1.5

    with caplog.at_level(logging.INFO):
        sent, _, statuses = send_burst(bot, 40, rate=20, during=outage)
        assert statuses == [200] * 40
        assert drained(bot, sent, timeout=30), tally(bot, sent)
    lost, duplicated = tally(bot, sent)
    spooled = {r.event_id for r in logged(caplog, "database unavailable: event spooled")}
    replayed = {r.event_id for r in logged(caplog, "spooled event replayed")}
    print(f"\nFIGURE SQLite disk full 1.5 s: {lost} of {len(sent)} lost, {duplicated} duplicated, "
          f"{len(spooled)} spooled (event ids logged), {fault.refused} writes refused")
    assert (lost, duplicated) == (0, 0)
    assert spooled and spooled == replayed and all(e.startswith("Ev") for e in spooled)
    assert not spool.exists()  # replayed and removed: no customer text left on disk


class TcpProxy:
    """127.0.0.1:port -> PostgreSQL; `down()` cuts every connection and refuses new ones until `up()`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.alive = True
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.alive:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                if not self.alive:  # down() ran while this pair was being connected
                    _cut(client, upstream)
                    continue
                self.open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _cut(source, sink)  # the other direction's recv wakes up too: no half-open connection is left

    def down(self) -> None:
        self.alive = False
        with self.lock:
            sockets, self.open = self.open, set()
        _cut(*sockets)

    def up(self) -> None:
        self.alive = True

    def close(self) -> None:
        self.down()
        self.server.close()


def _cut(*sockets: socket.socket) -> None:
    """Shut down (which wakes a thread blocked in recv, unlike close) and close each socket."""
    for s in sockets:
        for step in (lambda: s.shutdown(socket.SHUT_RDWR), s.close):
            try:
                step()
            except OSError:
                pass


@pytest.fixture
def postgres_via_proxy() -> Iterator[tuple[str, TcpProxy]]:
    """A fresh, migrated PostgreSQL schema reached through a proxy the test can cut."""
    from bot.storage.store import SqlStore

    base = os.environ.get("COACH_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("COACH_TEST_POSTGRES_URL is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    schema = f"coach_fault_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    direct = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    migrator = SqlStore(direct.render_as_string(hide_password=False))
    migrator.migrate()
    migrator.close()
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432)
    try:
        yield direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        proxy.close()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_postgresql_down_spools_and_loses_nothing(make_bot, settings, postgres_via_proxy, tmp_path, caplog):
    url, proxy = postgres_via_proxy
    bot = make_bot(settings_=settings.model_copy(update={
        **FAST, "coach_database_url": url, "coach_inbox_spool": tmp_path / "pg-spool.jsonl"}))
    restore: list[float] = []

    def outage(n: int) -> None:
        if n == 10:
            proxy.down()
            restore.append(time.monotonic() + 1.5)
        if restore and time.monotonic() >= restore[0]:
            proxy.up()

    with caplog.at_level(logging.INFO):
        sent, _, statuses = send_burst(bot, 40, rate=20, during=outage)
        proxy.up()
        assert statuses == [200] * 40
        assert drained(bot, sent, timeout=40), tally(bot, sent)
    lost, duplicated = tally(bot, sent)
    spooled = {r.event_id for r in logged(caplog, "database unavailable: event spooled")}
    print(f"\nFIGURE PostgreSQL down 1.5 s: {lost} of {len(sent)} lost, {duplicated} duplicated, "
          f"{len(spooled)} spooled (event ids logged)")
    assert (lost, duplicated) == (0, 0)
    assert spooled and spooled <= {r.event_id for r in logged(caplog, "spooled event replayed")}


def test_a_restarted_worker_finishes_what_a_dead_one_left(make_bot, settings, playbook):
    gate, crash = threading.Event(), threading.Event()

    class Dying(FakeClassifier):
        """The first worker hangs on its first message and never finishes it (it 'died')."""

        def classify(self, text):
            gate.wait(30)
            if crash.is_set():
                raise RuntimeError("worker died")
            return super().classify(text)

    cfg = settings.model_copy(update={**FAST, "coach_inference_workers": 1, "coach_inference_queue": 1,
                                      "coach_inbox_lease_seconds": 1.0})
    first = make_bot(engine=RecoveryEngine(cfg, classifier=Dying(), playbook=playbook), settings_=cfg)
    sent, _, statuses = send_burst(first, 6, rate=20)
    assert statuses == [200] * 6
    time.sleep(0.3)
    counts = first.services.store.inbox.counts()
    first.server.stop()
    first.app.close()  # the process is gone: its queue, its poller, its claim on the held message
    assert counts == {"pending": 6} and cards_per_message(first.fake) == {}
    second = make_bot(settings_=cfg)  # a new worker process on the same database
    assert drained(second, sent, timeout=20), tally(second, sent)
    crash.set()
    gate.set()  # the dead worker's thread wakes up: its claim was taken over, its outcome does not count
    time.sleep(0.5)
    lost, duplicated = tally(second, sent)
    print(f"\nFIGURE restart with 6 pending rows (1 claimed by the dead worker): {lost} lost, {duplicated} duplicated")
    assert (lost, duplicated) == (0, 0)
    assert second.services.store.inbox.counts() == {"done": 6}


@pytest.mark.parametrize("fault", ["503", "429", "timeout"])
def test_a_card_slack_refuses_for_longer_than_the_client_retries_is_re_delivered(
        make_bot, settings, fake, monkeypatch, caplog, fault):
    monkeypatch.setattr(harness, "build_web_client", functools.partial(build_web_client, timeout=1))
    bot = make_bot(settings_=settings.model_copy(update=FAST))
    bot.driver.message(CUSTOMER, "Hello", CHANNEL)  # warm: identity and users cached
    for agent in AGENTS:
        card_for(fake, agent)
    fake.reset_calls()
    outage = {"503": dict(seconds=2.0, status=503), "429": dict(seconds=2.0, status=429, retry_after=6),
              "timeout": dict(seconds=6.0, status="timeout", hang=1.2)}[fault]  # > 3 attempts of 1 s + backoff
    fake.fail_for("chat.postEphemeral", **outage)
    with caplog.at_level(logging.INFO):
        message, reply = bot.driver.message(CUSTOMER, "I was charged twice for order 12345", CHANNEL,
                                            event_id=f"EvCard{fault}")
        assert reply.status == 200
        assert wait_until(lambda: tally(bot, [message["ts"]])[0] == 0, timeout=20), fake.calls_of(ok_only=False)
    lost, duplicated = tally(bot, [message["ts"]])
    failed = [c for c in fake.calls_of("chat.postEphemeral", ok_only=False) if c.status != 200]
    queued = {r.event_id for r in logged(caplog, "card queued for re-delivery")}
    redelivered = {r.event_id for r in logged(caplog, "card re-delivered")}
    print(f"\nFIGURE chat.postEphemeral {fault} for {outage['seconds']} s: {lost} of 1 message lost, "
          f"{duplicated} duplicated, {len(failed)} failed calls, {len(redelivered)} cards re-delivered from the inbox")
    assert (lost, duplicated) == (0, 0)
    # every card that fell to the inbox came out of it (on a slow machine the client's own retries may outlast the
    # outage, and then none falls to it: the count is reported above)
    assert queued == redelivered and all(e.startswith(f"EvCard{fault}/card/") for e in queued)
    if fault == "timeout":  # read timeouts are retried by the client now (one timeout gave the card up before)
        # a timeout, and at least one retry timing out too (how many fit depends on the machine's speed)
        assert len([c for c in failed if c.status == 0 and c.args.get("user") == AGENTS[0]]) >= 2


def test_a_message_is_given_up_after_the_stated_time_with_its_event_id(make_bot, settings, fake, caplog):
    bot = make_bot(settings_=settings.model_copy(update={**FAST, "coach_delivery_give_up_seconds": 1.5}))
    fake.fail_for("users.info", seconds=30, status=503)  # the sender's side can never be established
    with caplog.at_level(logging.INFO):
        bot.driver.message(CUSTOMER, "I was charged twice", CHANNEL, event_id="EvHopeless")
        assert wait_until(lambda: logged(caplog, "delivery given up"), timeout=10)
    [given_up] = logged(caplog, "delivery given up")
    assert wait_until(lambda: bot.services.store.inbox.item("EvHopeless")["state"] != "pending", timeout=5)
    row = bot.services.store.inbox.item("EvHopeless")  # logged first, then written
    retries = len(logged(caplog, "will retry"))
    print(f"\nFIGURE give-up: after {given_up.after_s} s (setting 1.5 s), {retries} retries, event id logged")
    assert given_up.event_id == "EvHopeless" and given_up.error == "SideUnknown"
    # never before the stated time; after it, at most one more backoff interval (plus a busy machine's slack)
    # never before the stated time; after it, at most one more attempt and backoff (plus a busy machine's slack).
    # How many inbox retries fit in 1.5 s depends on the machine: each attempt spends ~1.5 s in the client's own
    # 503 retries, so the count is reported, not asserted.
    assert 1.5 <= given_up.after_s < 6
    assert row["state"] == "failed" and row["has_payload"] is False
    assert fake.calls_of("chat.postEphemeral") == []


def test_replayed_button_and_command_are_processed_once(make_bot):
    first, second = make_bot(), make_bot()  # two workers on one database
    first.driver.message(CUSTOMER, "I was charged twice for order 12345", CHANNEL)
    button = buttons(card_for(first.fake, AGENTS[0]).args)["coach_send_apology"]
    click = {"type": "block_actions", "user": {"id": AGENTS[0]}, "channel": {"id": CHANNEL},
             "container": {"type": "message", "message_ts": "1700000000.000200", "channel_id": CHANNEL,
                           "is_ephemeral": True}, "trigger_id": "trig.replay", "team": {"id": "TOURS"},
             "response_url": first.driver.response_url(), "api_app_id": "ACOACH", "token": "legacy",
             "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "coach_actions",
                          "value": button["value"], "action_ts": "1700000001.000300"}]}
    command = {"token": "legacy", "team_id": "TOURS", "channel_id": CHANNEL, "user_id": AGENTS[0],
               "command": "/recover", "text": "help", "response_url": first.driver.response_url(),
               "trigger_id": "trig.cmd.replay", "api_app_id": "ACOACH"}
    stamp = int(time.time())
    statuses = []
    for worker in (first, second, first, second):  # the same signed requests, four times
        statuses.append(worker.driver.post_form({"payload": json.dumps(copy.deepcopy(click))}, timestamp=stamp).status)
        statuses.append(worker.driver.post_form(command, timestamp=stamp).status)
    time.sleep(1.0)
    apologies = len(first.fake.calls_of("chat.postMessage", channel=CHANNEL))
    helps = len([c for c in first.fake.calls_of("response_url") if "/recover" in (c.args.get("text") or "")])
    print(f"\nFIGURE replays: 'Send apology' x4 over 2 workers -> {apologies} posted; '/recover help' x4 -> {helps} answered")
    assert statuses == [200] * 8
    assert (apologies, helps) == (1, 1)
