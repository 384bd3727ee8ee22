"""Slack bot commands: serve (HTTP), run (Socket Mode), start (what `make run` runs)."""
from __future__ import annotations

import errno
import socket
from typing import Annotated

import typer

from bot.cli.common import app, fail
from bot.settings import Settings


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=0, max=65535,
                                      help="port for POST /slack/events, GET /healthz and GET /readyz")] = 3000,
    host: Annotated[str, typer.Option(help="interface to bind; --host 0.0.0.0 listens on all")] = "127.0.0.1",
    workers: Annotated[int | None, typer.Option(min=1, max=64,
                                                help="worker processes (default: COACH_HTTP_WORKERS)")] = None,
    threads: Annotated[int | None, typer.Option(min=1, max=256,
                                                help="request threads per worker (default: COACH_HTTP_THREADS)")] = None,
) -> None:
    """The Slack bot in HTTP mode, served by gunicorn with N worker processes (one database between them).

    Binds loopback unless told otherwise: a reverse proxy or load balancer in front is the usual way in,
    and listening on every interface should be a decision, not a default.
    """
    from bot.slack.runner import ConfigError, serve_http

    settings = Settings()
    overrides = {key: value for key, value in (("coach_http_workers", workers), ("coach_http_threads", threads))
                 if value is not None}
    try:
        serve_http(settings.model_copy(update=overrides), host, port)
    except ConfigError as exc:
        fail(str(exc))
    except OSError as exc:
        if not isinstance(exc, socket.gaierror) and exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL,
                                                                        errno.EACCES):
            raise
        fail(f"cannot listen on {host}:{port}: {exc.strerror}", code=2)


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
    port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP mode port, when no SLACK_APP_TOKEN is set")] = 3000,
    host: Annotated[str, typer.Option(help="HTTP mode interface; --host 0.0.0.0 listens on all")] = "127.0.0.1",
) -> None:
    """What `make run` starts: Socket Mode or HTTP mode with Slack tokens (or the OAuth app's client id and
    secret) in env/.env, else the Slack sandbox."""
    settings = Settings()
    if settings.slack_bot_token is not None and settings.slack_app_token is not None:
        run()
    elif settings.slack_signing_secret is not None and (
            settings.slack_bot_token is not None or (settings.slack_client_id and settings.slack_client_secret)):
        serve(port=port, host=host, workers=None, threads=None)  # one workspace, or the multi-workspace install
    else:
        from bot.slack.sandbox import run_sandbox

        run_sandbox(settings)
