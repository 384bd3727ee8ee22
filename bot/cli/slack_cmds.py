"""Slack bot commands: serve (HTTP), run (Socket Mode), start (what `make run` runs)."""
from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import app, fail
from bot.settings import Settings


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="port for POST /slack/events and GET /healthz")] = 3000,
    host: Annotated[str, typer.Option(help="interface to bind")] = "0.0.0.0",
) -> None:
    """The Slack bot in HTTP mode (production: several workers behind a load balancer, one database)."""
    from bot.slack.runner import ConfigError, serve_http

    try:
        serve_http(Settings(), host, port)
    except ConfigError as exc:
        fail(str(exc))


@app.command()
def run() -> None:
    """The Slack bot in Socket Mode (needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN; no public URL)."""
    from bot.slack.runner import ConfigError, run_socket_mode

    try:
        run_socket_mode(Settings())
    except ConfigError as exc:
        fail(str(exc))


@app.command()
def start(
    port: Annotated[int, typer.Option(help="HTTP mode port, when no SLACK_APP_TOKEN is set")] = 3000,
) -> None:
    """What `make run` starts: Socket Mode or HTTP mode with Slack tokens in env/.env, else the Slack sandbox."""
    settings = Settings()
    if settings.slack_bot_token is not None and settings.slack_app_token is not None:
        run()
    elif settings.slack_bot_token is not None and settings.slack_signing_secret is not None:
        serve(port=port, host="0.0.0.0")
    else:
        from bot.slack.sandbox import run_sandbox

        run_sandbox(settings)
