"""`coach serve` under gunicorn: N workers built after the fork, signed requests through them, a killed
worker replaced, SIGTERM drains and exits 0, no banner with versions and no secrets in the output."""
from __future__ import annotations

import os
import signal
import time

from bot.slack.driver import SlackDriver
from tests.slack.conftest import ADMIN, CHANNEL, SECRET, TOKEN
from tests.slack.serve_process import ServeProcess, http


def _env(fake, database_url: str, tmp_path) -> dict[str, str]:
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url,
           "COACH_DATABASE_URL": database_url, "COACH_ADMINS": ADMIN, "COACH_MODEL_DIR": str(tmp_path / "no-model")}
    for name in ("SLACK_APP_TOKEN", "PROMETHEUS_MULTIPROC_DIR", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        env.pop(name, None)
    return env


def test_serve_runs_gunicorn_workers(fake, database_url, tmp_path):
    with ServeProcess(_env(fake, database_url, tmp_path), tmp_path, workers=2) as serve:
        pids = serve.wait_workers(2)
        assert len(pids) == 2 and serve.process.pid not in pids  # two processes besides the master
        status, headers, _ = http(serve.base + "/healthz")
        assert status == 200 and headers["Server"] == "coach"

        driver = SlackDriver(serve.base, SECRET, fake)
        challenge = driver.post_json({"type": "url_verification", "challenge": "c-123", "token": "legacy"})
        assert challenge.status == 200 and challenge.json() == {"challenge": "c-123"}
        for _ in range(6):
            assert driver.command(ADMIN, "help", CHANNEL).status == 200
        fake.wait_for("response_url", count=6, where=lambda c: "Recovery Coach" in c.args.get("text", ""))
        assert driver.post_form({"command": "/recover", "text": "help", "user_id": ADMIN},
                                signature="v0=" + "0" * 64).status == 401

        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)  # gunicorn replaces a dead worker; the port never stops answering
        replacement = serve.wait_workers(1, exclude=pids)
        assert replacement and victim not in replacement
        assert driver.command(ADMIN, "help", CHANNEL).status == 200

        started = time.monotonic()
        assert serve.stop() == 0
        assert time.monotonic() - started < 25
    records = serve.records()
    listening = [r for r in records if r.get("msg") == "listening"]
    assert listening and listening[0]["port"] == serve.port and listening[0]["workers"] == 2
    assert any(r.get("logger") == "gunicorn.error" for r in records)  # gunicorn's lines are JSON too
    assert TOKEN not in serve.output and SECRET not in serve.output
    assert "/root/.gunicorn" not in serve.output  # no control socket


def test_serve_refuses_a_busy_port_at_once(fake, database_url, tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-c", "from bot.cli import app; app()", "serve", "--port", str(port)],
                                env=_env(fake, database_url, tmp_path), cwd=tmp_path, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr + result.stdout
    assert time.monotonic() - started < 20  # not gunicorn's five retries


def test_metrics_add_up_over_workers(fake, database_url, tmp_path):
    """Multiprocess mode: any worker answers /metrics with every worker's counts, a killed one's included."""
    from tests.slack.conftest import CUSTOMER
    from tests.slack.test_metrics import scrape, value

    env = {**_env(fake, database_url, tmp_path), "COACH_METRICS_TOKEN": "metrics-token"}
    auth = {"Authorization": "Bearer metrics-token"}
    with ServeProcess(env, tmp_path, workers=2) as serve:
        pids = serve.wait_workers(2)
        assert http(serve.base + "/metrics")[0] == 401
        driver = SlackDriver(serve.base, SECRET, fake)
        for i in range(6):
            event = {"type": "message", "channel": CHANNEL, "channel_type": "channel", "user": CUSTOMER,
                     "text": "hello", "ts": f"170000000{i}.000100", "team": fake.team_id}
            assert driver.event(event, event_id=f"EvMp{i}").status == 200
        for i in range(2):  # Slack's retries of events already taken
            event = {"type": "message", "channel": CHANNEL, "channel_type": "channel", "user": CUSTOMER,
                     "text": "hello", "ts": f"170000000{i}.000100", "team": fake.team_id}
            assert driver.event(event, event_id=f"EvMp{i}", retry_num=1).status == 200
        for _ in range(3):
            assert driver.command(ADMIN, "help", CHANNEL).status == 200
        samples = scrape(serve.base, auth)
        assert value(samples, "coach_events_received_total", team="TOURS", kind="message") == 8
        assert value(samples, "coach_events_received_total", team="TOURS", kind="command") == 3
        assert value(samples, "coach_events_deduplicated_total", team="TOURS") == 2
        assert ("coach_inference_queue_depth", ()) in samples

        os.kill(sorted(pids)[0], signal.SIGKILL)
        serve.wait_workers(1, exclude=pids)
        again = scrape(serve.base, auth)  # counters of the dead worker stay in the totals
        assert value(again, "coach_events_received_total", team="TOURS", kind="message") == 8
        assert serve.stop() == 0
    assert "metrics-token" not in serve.output


def test_multi_workspace_install_under_gunicorn(database_url, tmp_path):
    """OAuth mode in `coach serve`: installs begun on one worker finish on any (state in the database),
    tokens land encrypted, app_uninstalled deletes them."""
    from cryptography.fernet import Fernet
    from sqlalchemy import create_engine, text

    from tests.slack.test_oauth import CLIENT_ID, CLIENT_SECRET, TOKENS, WorkspacesFake, get

    fake = WorkspacesFake()
    fake.start()
    env = {**_env(fake, database_url, tmp_path), "SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET,
           "COACH_TOKEN_KEY": Fernet.generate_key().decode(), "SLACK_REDIRECT_URI": "https://coach.example.com/slack/oauth_redirect"}
    env.pop("SLACK_BOT_TOKEN")
    try:
        with ServeProcess(env, tmp_path, workers=2) as serve:
            serve.wait_workers(2)
            for team in ("TA", "TB"):
                status, headers, page = get(serve.base + "/slack/install")
                assert status == 200 and "redirect_uri=https://coach.example.com/slack/oauth_redirect" in page
                state = page.split("state=")[1].split("&")[0]
                fake.token_team[TOKENS[team]] = team
                fake.grant_install(f"code-{team}", team, TOKENS[team])
                status, _, page = get(f"{serve.base}/slack/oauth_redirect?code=code-{team}&state={state}",
                                      headers["set-cookie"].split(";")[0])
                assert status == 200, page
            assert http(serve.base + "/readyz")[1] is not None
            with create_engine(database_url).connect() as connection:
                rows = connection.execute(text("SELECT team_id, bot_token FROM slack_bots")).all()
            assert {t for t, _ in rows} == {"TA", "TB"} and all(v.startswith("fernet:") for _, v in rows)
            driver = SlackDriver(serve.base, SECRET, fake)
            envelope = {"token": "legacy", "team_id": "TA", "api_app_id": "ACOACH", "type": "event_callback",
                        "event_id": "EvUninstall", "event_time": 1, "event": {"type": "app_uninstalled"},
                        "authorizations": [{"team_id": "TA", "user_id": "UBOT", "is_bot": True}]}
            assert driver.post_json(envelope).status == 200
            deadline = time.monotonic() + 10
            while True:
                with create_engine(database_url).connect() as connection:
                    teams = {r[0] for r in connection.execute(text("SELECT team_id FROM slack_bots"))}
                if teams == {"TB"} or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert teams == {"TB"}
            assert serve.stop() == 0
        assert not [t for t in TOKENS.values() if t in serve.output] and CLIENT_SECRET not in serve.output
    finally:
        fake.stop()
