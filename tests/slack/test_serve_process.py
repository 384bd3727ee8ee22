"""`coach serve` as a real process: binds the port, answers /healthz, verifies and handles /recover."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from bot.slack.driver import SlackDriver
from tests.slack.conftest import ADMIN, CHANNEL, SECRET, TOKEN


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_coach_serve_process(fake, database_url, tmp_path):
    port = _free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url,
           "COACH_DATABASE_URL": database_url, "COACH_ADMINS": ADMIN, "COACH_MODEL_DIR": str(tmp_path / "no-model")}
    env.pop("SLACK_APP_TOKEN", None)
    process = subprocess.Popen([sys.executable, "-c", "from bot.cli import app; app()", "serve", "--port", str(port),
                                "--host", "127.0.0.1"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _get(base + "/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None and time.monotonic() < deadline, "coach serve did not start"
                time.sleep(0.2)
        assert (status, body["ok"]) == (200, True)  # alive
        status, body = _get(base + "/readyz")
        assert (status, body["ok"]) == (503, False) and "model" in body["not_ready"]  # no model here: up, not ready
        driver = SlackDriver(base, SECRET, fake)
        assert driver.command(ADMIN, "help", CHANNEL).status == 200
        fake.wait_for("response_url", where=lambda c: "Recovery Coach" in c.args.get("text", ""))
        forged = driver.post_form({"command": "/recover", "text": "help", "user_id": ADMIN}, signature="v0=" + "0" * 64)
        assert forged.status == 401
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line.get("msg") == "listening" and line.get("port") == port for line in lines)
    assert TOKEN not in output and SECRET not in output
