"""build_app(): the Bolt app with every listener, from explicit settings, engine, store and client."""
from __future__ import annotations

import re
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from slack_bolt import App
from slack_sdk import WebClient

from bot.engine import RecoveryEngine
from bot.settings import Settings
from bot.slack import actions, home, messages, recover
from bot.slack.logging import get_logger
from bot.slack.resilience import build_web_client
from bot.slack.roles import RoleResolver
from bot.slack.services import BoundedExecutor, PlaybookSync, Services
from bot.storage.api import Store

log = get_logger("slack.app")


@dataclass
class CoachApp:
    bolt: App
    services: Services

    def ready(self) -> bool:
        """Model and playbook loaded (what /healthz reports)."""
        engine = self.services.engine
        return engine._classifier is not None and engine._playbook is not None  # noqa: SLF001

    def close(self) -> None:
        self.services.inference.shutdown(wait=False)


def build_app(settings: Settings, engine: RecoveryEngine, store: Store, client: WebClient | None = None,
              executor: BoundedExecutor | None = None, listener_executor: Executor | None = None,
              now: Callable[[], datetime] | None = None, bootstrap_playbook: bool = True) -> CoachApp:
    """Wire one Bolt app; several can run in one process (tests use two as two 'workers')."""
    if client is None:
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        client = build_web_client(token, settings.slack_api_url)
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    bolt = App(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=signing_secret is not None,  # Socket Mode needs no signing secret
        process_before_response=False,  # ack first; listeners run after the HTTP response
        listener_executor=listener_executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="coach-bolt"),
        raise_error_for_unhandled_request=False,
        logger=get_logger("bolt"),
    )
    services = Services(
        settings=settings, engine=engine, store=store, client=client, roles=RoleResolver(client, settings),
        inference=executor or BoundedExecutor(settings.coach_inference_workers, settings.coach_inference_queue),
        playbooks=PlaybookSync(store, engine, settings.coach_playbook_check_seconds),
    )
    if now is not None:
        services.now = now
    if bootstrap_playbook:
        services.playbooks.bootstrap(settings.coach_playbook.read_text(encoding="utf-8"))

    @bolt.use
    def hot_reload_playbook(next: Callable[[], None]) -> None:  # noqa: A002 (Bolt injects by this name)
        services.playbooks.maybe_reload()
        next()

    @bolt.error
    def on_error(error: Exception, body: dict) -> None:
        log.error("listener failed", exc_info=error,
                  extra={"type": body.get("type"), "event_type": (body.get("event") or {}).get("type")})

    messages.register(bolt, services)
    home.register(bolt, services)
    actions.register(bolt, services)
    recover.register(bolt, services)

    @bolt.event(re.compile(r".*"))
    def ignore_other_events() -> None:
        """Subscribed events we do not act on still get a 200, so Slack does not retry or disable us."""

    return CoachApp(bolt, services)
