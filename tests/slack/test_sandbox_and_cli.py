"""`coach start` picks the mode from the settings; without tokens it is the sandbox on the fake Slack."""
from __future__ import annotations

import io

import pytest
from rich.console import Console
from typer.testing import CliRunner

import bot.cli as cli
from bot.engine import RecoveryEngine
from bot.settings import Settings
from tests.slack.conftest import FakeClassifier

SLACK_ENV = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET")


def test_sandbox_shows_what_the_agent_sees(playbook, tmp_path):
    settings = Settings(_env_file=None, coach_database_url=f"sqlite:///{tmp_path / 'unused.sqlite'}")
    engine = RecoveryEngine(settings, classifier=FakeClassifier(), playbook=playbook)
    out = io.StringIO()
    from bot.slack.sandbox import run_sandbox

    lines = iter(["I was charged twice for order 12345", "/agent Sorry, but our policy is clear.", "/send", "/quit"])
    run_sandbox(settings, engine=engine, lines=lines, console=Console(file=out, width=140))
    text = out.getvalue()
    assert "only you see this" in text and "billing 90%" in text and "[Send apology]" in text
    assert "qualifies the apology" in text
    assert "POSTED IN THE CHANNEL" in text  # only after /send
    assert text.index("POSTED IN THE CHANNEL") > text.index("qualifies the apology")


@pytest.mark.parametrize("env, expected", [
    ({}, "sandbox"),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, "socket"),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "http"),
])
def test_start_picks_the_mode(env, expected, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in SLACK_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    chosen: list[str] = []
    import bot.slack.runner as runner
    import bot.slack.sandbox as sandbox

    monkeypatch.setattr(sandbox, "run_sandbox", lambda settings: chosen.append("sandbox"))
    monkeypatch.setattr(runner, "run_socket_mode", lambda settings: chosen.append("socket"))
    monkeypatch.setattr(runner, "serve_http", lambda settings, host, port: chosen.append("http"))
    result = CliRunner().invoke(cli.app, ["start"])
    assert result.exit_code == 0, result.output
    assert chosen == [expected]


def test_run_and_serve_explain_missing_tokens(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in SLACK_ENV:
        monkeypatch.delenv(name, raising=False)
    for command in (["run"], ["serve", "--port", "0"]):
        result = CliRunner().invoke(cli.app, command)
        assert result.exit_code == 1
        assert "SLACK_BOT_TOKEN" in result.output
