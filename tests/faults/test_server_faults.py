"""Issue 13, rows on the server's edges and bad input: readiness, forged requests in the logs, a non-numeric
request timestamp, the Server banner, and `coach classify --jsonl` on hostile batches.

Before: a forged request's body (customer text, e-mail, card number) was logged by Bolt at INFO; a
non-numeric X-Slack-Request-Timestamp got HTTP 500; /healthz said 200 through a database outage; the
stdlib server announced `WSGIServer/0.2 CPython/3.11`; one lone surrogate crashed a whole classify run and
64 lines of 1 MB gave no output in 120 s.
"""
from __future__ import annotations

import http.client
import io
import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from bot.slack.logging import JsonFormatter
from tests.slack.conftest import ADMIN, CHANNEL, CUSTOMER

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]

# The CLI with a fast stand-in classifier injected (the engine factory is the CLI's seam).
FAKE_CLI = r"""
import atexit, os, sys

def report_peak():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over fork + exec)
    if os.environ.get("COACH_PEAK_FILE"):
        status = open("/proc/self/status").read()
        kb = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
        open(os.environ["COACH_PEAK_FILE"], "w").write(kb)

atexit.register(report_peak)
import bot.cli.common as common
from bot.classify.decisions import Thresholds
from bot.coach.models import Classification, Prediction
from bot.engine import RecoveryEngine
from bot.settings import Settings

class Fast:
    thresholds = Thresholds()

    def classify(self, text):
        return Classification(language="en", tone=Prediction(label="neutral", confidence=0.9),
                              complaint=Prediction(label="none", confidence=0.9))
    def classify_many(self, texts):
        return [self.classify(t) for t in texts]

engine = RecoveryEngine(Settings(_env_file=None), classifier=Fast())
common.engine = lambda settings=None: engine
from bot.cli import app
app(sys.argv[1:], prog_name="coach")
"""


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", FAKE_CLI, *args], cwd=ROOT, **kwargs)


def test_classify_64_lines_of_1mb_answered_within_400mb(tmp_path):
    text = ("card 4111 1111 1111 1111 charged twice " * 26000)[:999_970]
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(64):
            f.write(json.dumps({"id": i, "text": text}) + "\n")  # valid JSON, 1 MB a line
            if i % 16 == 0:
                f.write(json.dumps({"id": f"ok{i}", "text": "Where is my parcel?"}) + "\n")
    out_path, peak_path = tmp_path / "out.jsonl", tmp_path / "peak_kb"
    started = time.monotonic()
    with out_path.open("wb") as out:
        process = _cli("classify", "--jsonl", str(path), stdout=out, stderr=subprocess.PIPE,
                       env={**os.environ, "COACH_PEAK_FILE": str(peak_path)})
        _, stderr = process.communicate(timeout=300)
    seconds = time.monotonic() - started
    assert process.returncode == 0, stderr.decode()[-2000:]
    peak_mb = int(peak_path.read_text()) / 1024
    print(f"64 x 1 MB: {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")
    rows = [json.loads(line) for line in out_path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 68
    assert sum("longer than 100,000 characters" in r.get("error", "") for r in rows) == 64
    assert [r["id"] for r in rows if "error" not in r] == ["ok0", "ok16", "ok32", "ok48"]
    assert peak_mb < 400
    assert seconds < 60


def test_classify_streams_each_chunk_before_input_ends():
    process = _cli("classify", "--jsonl", "-", "--batch-size", "2", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    try:
        process.stdin.write(b'{"id": 1, "text": "hello"}\n{"id": 2, "text": "\\ud800"}\n')
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "no answer for the first chunk while stdin is still open"
        first = [json.loads(process.stdout.readline()) for _ in range(2)]
        assert first[0]["id"] == 1 and first[1]["error"]
        process.stdin.write(b'{"id": 3, "text": "again"}\n')
        process.stdin.close()
        rest = [json.loads(line) for line in process.stdout.read().splitlines()]
        assert [r["id"] for r in rest] == [3]
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ---- the HTTP server: forged requests, timestamps, banner, readiness ---------------------------------------

EMAIL, CARD, PHRASE = "maria.kask@example.ee", "4111 1111 1111 1111", "my cat ate the invoice"


def _needles() -> list[str]:
    """Each secret as it can appear in a log: plain, URL-encoded (forms), JSON-escaped, digits only."""
    plain = [EMAIL, CARD, PHRASE, CARD.replace(" ", "")]
    return plain + [urllib.parse.quote_plus(v) for v in plain] + [urllib.parse.quote(v) for v in plain]


def _get(url: str) -> tuple[int, dict, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


@pytest.fixture
def all_logs(caplog, capfd):
    """Every record at DEBUG from every logger (caplog on the root), our JSON formatter's output, and fd 2."""
    caplog.set_level(logging.DEBUG)
    levels = {}
    for name in ("slack_bolt", "slack_sdk", "urllib3", "coach", "coach.bolt", "slack_bolt.RequestVerification"):
        levels[name] = logging.getLogger(name).level
        logging.getLogger(name).setLevel(logging.DEBUG)
    buffer = io.StringIO()
    ours = logging.StreamHandler(buffer)
    ours.setFormatter(JsonFormatter())
    ours.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(ours)

    def collect() -> str:
        records = "\n".join(f"{r.name} {r.getMessage()} {vars(r)}" for r in caplog.records)
        return "\n".join([caplog.text, records, buffer.getvalue(), *capfd.readouterr()])

    yield collect
    logging.getLogger().removeHandler(ours)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_forged_requests_leave_no_customer_text_in_any_log(bot, all_logs):
    text = f"{PHRASE}! write to {EMAIL}, card {CARD}"
    event = {"type": "message", "channel": CHANNEL, "user": CUSTOMER, "text": text, "ts": "1700000000.000100"}
    envelope = {"type": "event_callback", "team_id": "TOURS", "api_app_id": "ACOACH", "event": event,
                "event_id": "EvFORGED1", "event_time": 1700000000}
    forged = [
        bot.driver.post_json(envelope, signature="v0=" + "0" * 64),                       # wrong signature
        bot.driver.post_json(envelope, timestamp=int(time.time()) - 3600),                # replayed, stale
        bot.driver.post_json(envelope, signature="v0=" + "0" * 64, timestamp=0),
        bot.driver.post_form({"command": "/recover", "text": text, "user_id": ADMIN}, signature="v0=" + "1" * 64),
        bot.driver.post_form({"payload": json.dumps({"type": "block_actions", "actions": [{"value": text}]})},
                             signature="v0=" + "2" * 64),
        bot.driver.post_json(envelope, headers={"X-Slack-Request-Timestamp": "not-a-number"}),
    ]
    assert [r.status for r in forged] == [401] * len(forged)
    time.sleep(0.3)  # anything logged after the response (Bolt's listener threads)
    logs = all_logs()
    assert "Invalid request signature" in logs  # Bolt did log the refusals: the body in them is gone
    found = {needle: logs.count(needle) for needle in _needles() if needle in logs}
    assert found == {}, f"customer text in the logs: {found}"
    assert not bot.fake.calls_of("chat.postEphemeral")  # and nothing was processed


def test_signed_message_with_pii_logs_no_customer_text_even_at_debug(bot, all_logs):
    _, reply = bot.driver.message(CUSTOMER, f"{PHRASE}! write to {EMAIL}, card {CARD}", CHANNEL)
    assert reply.status == 200
    bot.fake.wait_for("chat.postEphemeral", where=lambda c: bool(c.args.get("blocks")))
    time.sleep(0.3)
    logs = all_logs()
    found = {needle: logs.count(needle) for needle in _needles() if needle in logs}
    assert found == {}, f"customer text in the logs: {found}"


@pytest.mark.parametrize("timestamp", ["not-a-number", "", "1e9", "-5", " 1700000000", "12.5", "9" * 5000,
                                       "١٢٣".encode().decode("latin-1")])
def test_bad_request_timestamp_is_401_not_500(bot, timestamp):
    reply = bot.driver.post_json({"type": "event_callback", "event": {"type": "message"}},
                                 headers={"X-Slack-Request-Timestamp": timestamp})
    assert (reply.status, reply.json()) == (401, {"error": "invalid request"})


def test_malformed_requests_are_refused_never_500(bot):
    url = urllib.parse.urlsplit(bot.server.url)
    good_ts = str(int(time.time()))

    def post(body: bytes, headers: dict[str, str]) -> int:
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        connection.putrequest("POST", "/slack/events")
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        status = connection.getresponse().status
        connection.close()
        return status

    signed = {"X-Slack-Request-Timestamp": good_ts, "Content-Type": "application/json"}
    assert post(b"{}", {**signed, "X-Slack-Signature": "v0=\xe9" * 3, "Content-Length": "2"}) == 401  # non-ASCII
    assert post(b"{}", {**signed, "Content-Length": "2"}) == 401                                   # no signature
    assert post(b"{}", {**signed, "X-Slack-Signature": "v0=0", "Content-Length": "two"}) == 400
    assert post(b"\xff\xfe{}", {**signed, "X-Slack-Signature": "v0=0", "Content-Length": "4"}) == 400
    # refused on the header alone, before a byte of the body is read
    assert post(b"", {**signed, "X-Slack-Signature": "v0=0", "Content-Length": "4000001"}) == 413


def test_no_version_in_server_banner(bot):
    for path in ("/healthz", "/readyz"):
        _, _, headers = _get(bot.server.url + path)
        assert headers.get("Server") == "coach", headers
    reply = urllib.request.Request(bot.server.url + "/slack/events", data=b"{}", method="POST")
    try:
        urllib.request.urlopen(reply, timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.headers.get("Server") == "coach"
    url = urllib.parse.urlsplit(bot.server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw:  # http.server's own error page
        raw.sendall(b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n")
        answer = raw.recv(4096).decode("latin-1")
    assert " 431 " in answer.splitlines()[0]  # too many headers
    banner = [line for line in answer.splitlines() if line.lower().startswith("server:")]
    assert banner == ["Server: coach"], answer


def test_healthz_alive_and_readyz_names_what_is_not_ready(bot, monkeypatch):
    status, body, _ = _get(bot.server.url + "/readyz")
    assert (status, body["ok"], body["not_ready"]) == (200, True, {}), body
    assert set(body["checks"]) == {"model", "playbook", "database", "slack_token", "inference_queue"}
    for probe in bot.app.probes.values():
        probe.ok_ttl = probe.fail_ttl = 0.0  # ask again on every call

    bot.fake._m_auth_test = lambda args: {"ok": False, "error": "invalid_auth"}  # token revoked
    status, body, _ = _get(bot.server.url + "/readyz")
    assert (status, body["not_ready"]) == (503, {"slack_token": "auth.test: invalid_auth"}), body
    assert _get(bot.server.url + "/healthz")[:2] == (200, {"ok": True, "status": "alive"})  # alive all along
    del bot.fake._m_auth_test
    bot.fake.fail_next("auth.test", status=503)  # Slack down: the probe does not retry, it reports
    status, body, _ = _get(bot.server.url + "/readyz")
    assert status == 503 and "slack_token" in body["not_ready"]
    assert _get(bot.server.url + "/readyz")[0] == 200

    from sqlalchemy.exc import OperationalError

    def down() -> None:
        raise OperationalError("SELECT 1", {}, Exception("postgresql://coach:hunter2@db/coach unreachable"))

    monkeypatch.setattr(bot.services.store, "schema_revision", down)
    status, body, _ = _get(bot.server.url + "/readyz")
    assert (status, body["not_ready"]) == (503, {"database": "failed (OperationalError)"})
    assert "hunter2" not in json.dumps(body)

    calls, release = [], threading.Event()

    def hung() -> str:
        calls.append(1)
        release.wait(10)
        return "head"

    monkeypatch.setattr(bot.services.store, "schema_revision", hung)
    for _ in range(3):
        started = time.monotonic()
        status, body, _ = _get(bot.server.url + "/readyz")
        assert time.monotonic() - started < 4
        assert (status, body["not_ready"]) == (503, {"database": "no answer within 2 s"})
    assert len(calls) == 1  # one check in flight, not one thread per probe
    release.set()
    monkeypatch.undo()
    time.sleep(0.1)
    assert _get(bot.server.url + "/readyz")[0] == 200

    gate = threading.Event()
    while bot.services.inference.submit(gate.wait, 10) is not None:  # fill every worker and queue slot
        pass
    status, body, _ = _get(bot.server.url + "/readyz")
    assert status == 503 and body["not_ready"]["inference_queue"].endswith("full"), body
    gate.set()
    deadline = time.monotonic() + 10
    while _get(bot.server.url + "/readyz")[0] != 200:
        assert time.monotonic() < deadline, "queue never drained"
        time.sleep(0.05)


def test_readyz_until_the_model_is_loaded(make_bot, settings, playbook):
    from bot.engine import RecoveryEngine

    bot_ = make_bot(engine=RecoveryEngine(settings, playbook=playbook))  # model not loaded yet
    status, body, _ = _get(bot_.server.url + "/readyz")
    assert (status, body["not_ready"]) == (503, {"model": "not loaded"})
    assert _get(bot_.server.url + "/healthz")[0] == 200
    bot_.services.engine._playbook = None
    assert "playbook" in _get(bot_.server.url + "/readyz")[1]["not_ready"]


def test_coach_serve_binds_loopback_unless_told(monkeypatch):
    import errno

    from typer.testing import CliRunner

    import bot.slack.runner as runner_module
    from bot.cli import app as cli

    seen: list[tuple[str, int]] = []
    monkeypatch.setattr(runner_module, "serve_http", lambda settings, host, port: seen.append((host, port)))
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_APP_TOKEN": ""}
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli, ["serve"], env=env).exit_code == 0
    assert runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8080"], env=env).exit_code == 0
    assert seen == [("127.0.0.1", 3000), ("0.0.0.0", 8080)]

    def in_use(settings, host, port):
        raise OSError(errno.EADDRINUSE, "Address already in use")

    monkeypatch.setattr(runner_module, "serve_http", in_use)
    result = runner.invoke(cli, ["serve"], env=env)
    assert result.exit_code == 2 and "cannot listen on 127.0.0.1:3000" in result.output


def test_library_loggers_created_later_lose_bodies_too(caplog):
    """Bolt builds a logger per middleware and listener from its base logger: the filter goes with it."""
    from slack_bolt.logger import get_bolt_logger
    from slack_sdk import WebClient

    from bot.slack.logging import get_logger

    caplog.set_level(logging.DEBUG)

    class MiddlewareAddedLater:
        pass

    later = get_bolt_logger(MiddlewareAddedLater, base_logger=get_logger("bolt"))
    later.setLevel(logging.DEBUG)
    later.info("Invalid request signature detected (signature: v0=1, timestamp: 2, body: text=%s)", EMAIL)
    later.warning("Unhandled request (%s)", {"type": "block_suggestion", "value": CARD})
    WebClient(token="xoxb-1")  # slack_sdk's logger exists from here on
    get_logger("anything")     # any later get_logger() call covers it
    sdk = logging.getLogger("slack_sdk.web.base_client")
    sdk.setLevel(logging.DEBUG)
    sdk.debug("Sending a request - url: https://slack.com/api/chat.postMessage, query_params: {}, body_params: %s",
              {"text": PHRASE})
    try:
        raise KeyError(EMAIL)
    except KeyError:
        record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info(), "name": "coach.x"})
    line = JsonFormatter().format(record)
    assert len(caplog.records) == 3
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records) + line
    assert not [needle for needle in _needles() if needle in text], text
