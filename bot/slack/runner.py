"""Process entry points: HTTP mode (`coach serve`), Socket Mode (`coach run`), and what `coach start` picks."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from slack_sdk import WebClient

from bot.engine import RecoveryEngine
from bot.settings import Settings
from bot.slack.app import CoachApp, build_app
from bot.slack.followups import start_follow_up_scheduler
from bot.slack.logging import configure_logging, get_logger

log = get_logger("slack.runner")


class ConfigError(RuntimeError):
    """A setting needed for the chosen mode is missing."""


@dataclass
class Runtime:
    app: CoachApp
    store: object
    scheduler: object

    def close(self) -> None:
        self.scheduler.stop()  # type: ignore[attr-defined]
        self.app.close()
        self.store.close()  # type: ignore[attr-defined]


def open_store(settings: Settings):
    """The SQL store at COACH_DATABASE_URL, migrated to head (safe to run from every worker)."""
    from bot.storage.store import SqlStore

    store = SqlStore.from_settings(settings)
    store.migrate()
    return store


def preload_model(engine: RecoveryEngine) -> threading.Thread:
    """Load the model off the main thread: the HTTP server answers at once, /healthz says 503 until ready."""
    def load() -> None:
        try:
            _ = engine.classifier
            _ = engine.playbook
            log.info("model loaded")
        except Exception:
            log.exception("model failed to load")

    thread = threading.Thread(target=load, name="coach-model-load", daemon=True)
    thread.start()
    return thread


def create_runtime(settings: Settings, engine: RecoveryEngine | None = None, client: WebClient | None = None,
                   follow_up_interval: float = 30.0) -> Runtime:
    store = open_store(settings)
    engine = engine or RecoveryEngine(settings)
    app = build_app(settings, engine, store, client=client)
    scheduler = start_follow_up_scheduler(app.services, follow_up_interval)
    preload_model(engine)
    return Runtime(app, store, scheduler)


def serve_http(settings: Settings, host: str, port: int) -> None:
    """HTTP mode under gunicorn: COACH_HTTP_WORKERS processes, each with its own Bolt app (gunicorn_app.py).

    POST /slack/events (events, commands, interactivity), GET /healthz, /readyz. The stdlib server
    (make_http_server, BackgroundServer) stays for tests and the sandbox.
    """
    from bot.slack import oauth

    if oauth.multi_workspace(settings):
        try:
            oauth.check_settings(settings)
        except oauth.ConfigProblem as exc:
            raise ConfigError(str(exc)) from None
    elif settings.slack_bot_token is None or settings.slack_signing_secret is None:
        raise ConfigError("HTTP mode needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (one workspace), or "
                          "SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_SIGNING_SECRET and COACH_TOKEN_KEY "
                          "(multi-workspace install)")
    from bot.slack.gunicorn_app import ServeOptions, serve

    serve(settings, ServeOptions(host=host, port=port, workers=settings.coach_http_workers,
                                 threads=settings.coach_http_threads))


def run_socket_mode(settings: Settings) -> None:
    """Socket Mode: Slack pushes events over a websocket we open; no public URL needed."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    if settings.slack_bot_token is None or settings.slack_app_token is None:
        raise ConfigError("Socket Mode needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN (xapp-…)")
    configure_logging(settings.coach_log_level)
    runtime = create_runtime(settings)
    handler = SocketModeHandler(runtime.app.bolt, settings.slack_app_token.get_secret_value())
    log.info("connecting in Socket Mode")
    try:
        handler.start()
    except KeyboardInterrupt:
        pass
    finally:
        handler.close()
        runtime.close()
