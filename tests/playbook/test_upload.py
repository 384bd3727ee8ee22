"""The Slack upload and paste always answer, after the ack: busy pool, failures, slow checks, big files."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.playbook import MAX_PLAYBOOK_BYTES
from bot.render.blocks import playbook_modal
from bot.slack import recover
from tests.slack.conftest import (  # noqa: F401  (fixtures used by name)
    ADMIN, CHANNEL, bot, database_url, fake, make_bot, settings, template_db,
)


def _command(bot, payload: bytes, tag: str) -> str:
    info = bot.fake.add_file(payload)
    reply = bot.driver.command(ADMIN, f"playbook upload {info['id']}", CHANNEL, response_url=f"{bot.fake.url}/response/{tag}")
    assert reply.status == 200
    return bot.fake.wait_for("response_url", timeout=5, where=lambda c: c.args["url"] == f"/response/{tag}")[0].args["text"]


def _modal(bot, values: dict):
    dms = len(bot.fake.calls_of("chat.postMessage", channel=f"D{ADMIN}"))
    reply = bot.driver.submit_view(ADMIN, {**playbook_modal(), "id": "VUP"}, values)
    dm = bot.fake.wait_for("chat.postMessage", count=dms + 1, timeout=5, channel=f"D{ADMIN}")[-1]
    return reply, dm.args["text"]


def test_a_busy_pool_still_answers(bot, monkeypatch, playbook_text):
    monkeypatch.setattr(bot.services.inference, "submit", lambda *a, **k: None)
    assert "busy" in _command(bot, playbook_text.encode(), "busy")
    reply = bot.driver.submit_view(ADMIN, {**playbook_modal(), "id": "VUP"}, {"text": {"value": {"value": playbook_text}}})
    assert reply.json()["response_action"] == "errors" and "busy" in reply.json()["errors"]["text"]
    assert bot.services.store.current_playbook().version == 1


def test_an_internal_failure_still_answers_without_details(bot, monkeypatch, playbook_text):
    def broken(*_a, **_k):
        raise RuntimeError("database said: password=hunter2")

    monkeypatch.setattr(bot.services.playbooks, "apply", broken)
    text = _command(bot, playbook_text.encode(), "broken")
    assert "internal error" in text and "hunter2" not in text


def test_too_big_a_file_is_refused_before_it_is_read_whole(bot):
    text = _command(bot, b"#" * (MAX_PLAYBOOK_BYTES + 10), "big")
    assert "at most 262,144 bytes" in text
    info = bot.fake.add_file(b"#" * 10)
    info["size"] = 10_000_000  # Slack's own figure, when files.info gives one, is checked before downloading
    reply, dm = _modal(bot, {"file": {"value": {"files": [info]}}})
    assert "10,000,000 bytes" in dm and "at most" in json.dumps(reply.json())  # the declared size, not the 10 bytes


def test_unreadable_empty_and_non_utf8_files_are_answered(bot):
    bot.fake.fail_next("files.info", status=500, times=10)
    assert "can't read that file" in _command(bot, b"company: x\n", "unreadable")
    bot.fake.clear_failures()
    assert "empty" in _command(bot, b"   \n", "empty")
    assert "not UTF-8" in _command(bot, "company: Ärger\n".encode("latin-1"), "latin1")


def test_a_slow_check_closes_the_form_in_time_and_answers_by_dm(bot, monkeypatch, playbook_text):
    monkeypatch.setattr(recover, "MODAL_VERDICT_SECONDS", 0.05)
    apply = bot.services.playbooks.apply

    def slow(*args, **kwargs):
        time.sleep(0.5)
        return apply(*args, **kwargs)

    monkeypatch.setattr(bot.services.playbooks, "apply", slow)
    started = time.monotonic()
    reply, dm = _modal(bot, {"text": {"value": {"value": playbook_text.replace("Acme Store", "Slow Shop", 1)}}})
    assert reply.status == 200 and not reply.body  # a plain ack: the form closed before the verdict
    assert "v2 is live" in dm and time.monotonic() - started < 3
    assert bot.services.engine.playbook.company == "Slow Shop"


def test_a_refused_paste_shows_on_the_form_and_by_dm(bot, playbook_text):
    bad = playbook_text.replace("  margin: 0.3\n", "  margin: 0.3\n  margin: .inf\n", 1)
    reply, dm = _modal(bot, {"text": {"value": {"value": bad}}})
    errors = reply.json()["errors"]["text"]
    assert "customer_value.margin (line 15): duplicate key (first on line 14)" in errors
    assert "duplicate key" in dm and bot.services.store.current_playbook().version == 1


def test_a_dripping_download_is_given_up_on_time(bot, monkeypatch):
    """A server that sends a byte every 0.1 s would hold a worker for hours at 256 KB; the deadline stops it."""
    stop = threading.Event()

    class Drip(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            while not stop.is_set():
                try:
                    self.wfile.write(b"#")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(recover, "DOWNLOAD_SECONDS", 0.8)
    try:
        started = time.monotonic()
        with pytest.raises(ValueError, match="took longer"):
            recover.fetch_slack_file(bot.services, {"url_private_download": f"http://127.0.0.1:{server.server_port}/f"})
        assert time.monotonic() - started < 2.5
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
