"""build_app(): the Bolt app with every listener, from explicit settings, engine, store and client."""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.engine import RecoveryEngine
from bot.settings import Settings
from bot.slack import actions, home, messages, metrics, oauth, recover, shortcuts, thread_cards, workspace_config
from bot.slack.logging import get_logger
from bot.slack.resilience import build_web_client
from bot.slack.roles import RoleResolver
from bot.slack.services import BoundedExecutor, PlaybookSync, Services
from bot.storage.api import Store

log = get_logger("slack.app")


@dataclass(frozen=True)
class Readiness:
    """What /readyz answers: each check's verdict and why; truthy only when every check passes."""

    checks: dict[str, tuple[bool, str]]

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.checks.values())

    def __bool__(self) -> bool:
        return self.ok

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "status": "ready" if self.ok else "not ready",
                "not_ready": {name: why for name, (ok, why) in self.checks.items() if not ok},
                "checks": {name: {"ok": ok, "detail": why} for name, (ok, why) in self.checks.items()}}


class Probe:
    """One slow check (database, Slack) behind a cache: at most one call in flight, a load balancer's
    probe never waits longer than `timeout`, and a hung database cannot pile up threads."""

    def __init__(self, name: str, check: Callable[[], str | None], ok_ttl: float, fail_ttl: float,
                 timeout: float, clock: Callable[[], float] = time.monotonic):
        self.name, self.check, self.ok_ttl, self.fail_ttl, self.timeout = name, check, ok_ttl, fail_ttl, timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._result: tuple[bool, str] | None = None
        self._checked_at = float("-inf")
        self._running: threading.Event | None = None

    def __call__(self) -> tuple[bool, str]:
        with self._lock:
            if self._result is not None and self.clock() < self._checked_at + self._ttl(self._result):
                return self._result
            if self._running is None:
                self._running = threading.Event()
                threading.Thread(target=self._run, args=(self._running,), name=f"coach-ready-{self.name}",
                                 daemon=True).start()
            running = self._running
        if running.wait(self.timeout):
            with self._lock:
                if self._result is not None:
                    return self._result
        return False, f"no answer within {self.timeout:g} s"

    def _ttl(self, result: tuple[bool, str]) -> float:
        return self.ok_ttl if result[0] else self.fail_ttl

    def _run(self, done: threading.Event) -> None:
        try:
            problem = self.check()
            result = (problem is None, problem or "ok")
        except Exception as exc:  # the type only: messages can carry a database URL with its password
            result = (False, f"failed ({type(exc).__name__})")
        with self._lock:
            self._result = result
            self._checked_at = self.clock()
            self._running = None
        done.set()


def _check_database(store: Store) -> str | None:
    """None when the database answers and is migrated; else why not."""
    revision = getattr(store, "schema_revision", None)
    if revision is None:
        store.current_playbook()
        return None
    return None if revision() is not None else "not migrated (run `coach db upgrade`)"


def _check_token(client: WebClient) -> str | None:
    """auth.test once, without the client's retries: a probe wants the first answer, not the fifth."""
    from slack_sdk.errors import SlackApiError

    if isinstance(client, oauth.WorkspaceClient):
        return client.check()  # multi-workspace: a token per workspace, checked when used; the store answers
    if not client.token:
        return "no bot token"
    probe = WebClient(token=client.token, base_url=client.base_url, timeout=3)
    try:
        response = probe.auth_test()
    except SlackApiError as exc:
        return f"auth.test: {exc.response.get('error') or exc.response.status_code}"
    return None if response.get("ok") else f"auth.test: {response.get('error')}"


def _queue_check(executor: object) -> tuple[bool, str]:
    """Ready while the bounded inference pool could take one more task."""
    used = limit = None
    for used_attr, limit_attr in (("in_flight", "capacity"), ("depth", "limit")):
        if hasattr(executor, used_attr) and hasattr(executor, limit_attr):
            used, limit = getattr(executor, used_attr), getattr(executor, limit_attr)
            break
    else:  # BoundedExecutor: a semaphore of workers + queue slots
        slots = getattr(executor, "_slots", None)
        if slots is not None and hasattr(slots, "_value") and hasattr(slots, "_initial_value"):
            limit = slots._initial_value  # noqa: SLF001
            used = limit - slots._value  # noqa: SLF001
    if used is None or limit is None:
        return True, "depth not measurable"
    return used < limit, f"{used} of {limit} slots in use" + ("" if used < limit else ": full")


@dataclass
class CoachApp:
    bolt: App
    services: Services
    database_ttl: float = 2.0      # a database outage shows within ~2 s
    token_ttl: float = 30.0        # auth.test at most twice a minute per worker while the token is fine
    token_retry: float = 5.0       # and every 5 s once it is not
    probe_timeout: float = 2.0     # /readyz answers within about this, whatever hangs
    metrics_interval: float = 1.0  # how often this worker refreshes its gauges (queue depth, model, playbook)
    _probes: dict[str, Probe] = field(default_factory=dict, init=False, repr=False)
    _sampler: metrics.GaugeSampler | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._sampler = metrics.GaugeSampler(self.sample_metrics, self.metrics_interval).start()
        self._probes["database"] = Probe("database", lambda: _check_database(self.services.store),
                                         self.database_ttl, 0.0, self.probe_timeout)
        self._probes["slack_token"] = Probe("slack_token", lambda: _check_token(self.services.client),
                                            self.token_ttl, self.token_retry, self.probe_timeout)

    @property
    def probes(self) -> dict[str, Probe]:
        """The cached checks by name (database, slack_token): operators and tests can tune their TTLs."""
        return self._probes

    def ready(self) -> Readiness:
        """/readyz: model and playbook loaded, database reachable, bot token valid, inference queue not full."""
        engine = self.services.engine
        checks: dict[str, tuple[bool, str]] = {
            "model": (True, "loaded") if engine._classifier is not None else (False, "not loaded"),  # noqa: SLF001
            "playbook": (True, "loaded") if engine._playbook is not None else (False, "not loaded"),  # noqa: SLF001
            "inference_queue": _queue_check(self.services.inference),
        }
        checks.update({name: probe() for name, probe in self._probes.items()})
        return Readiness(checks)

    def sample_metrics(self) -> None:
        """The gauges of this worker: inference queue depth, served model version, live playbook version."""
        services = self.services
        used = getattr(services.inference, "in_flight", None)
        if isinstance(used, int):
            metrics.set_queue_depth(used)
        classifier = services.engine._classifier  # noqa: SLF001 (loaded or not; never load it from here)
        if classifier is not None:
            version = getattr(classifier, "version", None) or getattr(getattr(classifier, "config", None), "version",
                                                                      None)
            metrics.set_model(str(version) if version else None, services.settings.coach_backend)
        identity = getattr(services.roles, "_identity", None)  # cached auth.test; never a Slack call from here
        metrics.set_playbook_version(getattr(identity, "team_id", None), services.playbooks.version)

    def close(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()
        self.services.inference.shutdown(wait=False)


def request_kind(body: dict) -> str:
    """What Slack sent, for the received-events counter: the event type, `command`, or the payload type."""
    if body.get("type") == "event_callback":
        return str((body.get("event") or {}).get("type") or "event")
    if body.get("command"):
        return "command"
    return str(body.get("type") or "other")


def build_app(settings: Settings, engine: RecoveryEngine, store: Store, client: WebClient | None = None,
              executor: BoundedExecutor | None = None, listener_executor: Executor | None = None,
              now: Callable[[], datetime] | None = None, bootstrap_playbook: bool = True) -> CoachApp:
    """Wire one Bolt app; several can run in one process (tests use two as two 'workers').

    Multi-workspace mode (oauth.multi_workspace: client id and secret, no bot token): `client` only lends
    its base URL; Bolt runs the OAuth install and authorizes each request from the installation store,
    and `services.client` / `services.roles` become the current workspace's (bot/slack/oauth.py).
    """
    multi = oauth.multi_workspace(settings)
    if client is None:
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token and not multi else None
        client = build_web_client(token, settings.slack_api_url)
    metrics.instrument_client(client)  # Slack API errors by method and code, for Bolt's calls and ours
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    listeners = listener_executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="coach-bolt")
    multi_kwargs: dict[str, object] = {}
    workspaces: oauth.Workspaces | None = None
    installations: oauth.EncryptedInstallationStore | None = None
    if multi:
        oauth.check_settings(settings)
        engine_, reader = oauth.database_engines(store, settings)
        installations = oauth.EncryptedInstallationStore(settings.slack_client_id or "", engine_,
                                                         oauth.TokenCipher.from_settings(settings), reader)
        base_url = client.base_url
        workspaces = oauth.Workspaces(installations, settings, lambda token: build_web_client(token or None, base_url))
        configs_ = getattr(store, "workspace_configs", None)

        def first_admin(installation) -> None:  # the installer administers a workspace nobody set admins for
            # an org-wide install's configuration is the organisation's (keyed by its enterprise id)
            scope = installation.enterprise_id if installation.is_enterprise_install else installation.team_id
            if configs_ is not None and scope and installation.user_id:
                if configs_.adopt_installer(scope, installation.user_id, list(settings.coach_admins)):
                    log.info("installer made the installation's first admin", extra={"team": scope})

        multi_kwargs = {"oauth_settings": oauth.build_oauth_settings(settings, installations, engine_, first_admin)}
        listeners = oauth.ContextExecutor(listeners)  # listeners run in the request's workspace
    bolt = App(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=signing_secret is not None,  # Socket Mode needs no signing secret
        process_before_response=False,  # ack first; listeners run after the HTTP response
        listener_executor=listeners,
        raise_error_for_unhandled_request=False,
        logger=get_logger("bolt"),
        **multi_kwargs,  # type: ignore[arg-type]
    )
    services_client = oauth.WorkspaceClient(workspaces, client) if workspaces is not None else client
    roles = oauth.WorkspaceRoles(workspaces) if workspaces is not None else RoleResolver(client, settings)
    # per-workspace playbook, roles and coach channel (multi-workspace mode; bot/slack/workspace_config.py)
    configs = getattr(store, "workspace_configs", None) if workspaces is not None else None
    config_cache = workspace_config.ConfigCache(configs, settings.coach_playbook_check_seconds) \
        if configs is not None else None
    playbooks = workspace_config.WorkspacePlaybooks(PlaybookSync(store, engine, settings.coach_playbook_check_seconds),
                                                    config_cache)
    services = Services(
        settings=settings, engine=engine, store=store, client=services_client, roles=roles,  # type: ignore[arg-type]
        inference=executor or BoundedExecutor(settings.coach_inference_workers, settings.coach_inference_queue),
        playbooks=playbooks,  # type: ignore[arg-type]
    )
    if config_cache is not None and workspaces is not None:
        scoped_settings = workspace_config.WorkspaceSettings(settings, config_cache)
        services.settings = scoped_settings  # type: ignore[assignment]
        services.engine = workspace_config.WorkspaceEngine(engine, playbooks)  # type: ignore[assignment]
        workspaces.settings_for = scoped_settings.bound  # type: ignore[assignment,method-assign]
        config_cache.org_of = workspaces.org_install_of  # an org-wide install's workspaces share the org's settings
    if now is not None:
        services.now = now
    if bootstrap_playbook:
        services.playbooks.bootstrap(settings.coach_playbook.read_text(encoding="utf-8"))

    @bolt.use
    def count_request(body: dict, context: BoltContext, next: Callable[[], None]) -> None:  # noqa: A002
        if workspaces is not None:  # read by services.client / roles here and, copied, in the listener pool
            team = oauth.request_workspace(body, context, workspaces)
            if context.is_enterprise_install:  # org-wide install: the listeners' context.team_id is the workspace
                context["team_id"] = team
            oauth.CURRENT_WORKSPACE.set(team)
        metrics.event_received(context.team_id, request_kind(body))
        next()

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
    thread_cards.register(bolt, services)  # after the replay check: a click's response_url for the card
    recover.register(bolt, services)
    shortcuts.register(bolt, services)
    if workspaces is not None and installations is not None:
        oauth.carry_workspace(services.inference)  # work handed to the pool keeps its workspace
        if getattr(services, "delivery", None) is not None:
            oauth.scope_inbox(services.delivery)  # inbox items run in the workspace of their event
        oauth.register_uninstall(bolt, installations, workspaces)

    @bolt.event(re.compile(r".*"))
    def ignore_other_events() -> None:
        """Subscribed events we do not act on still get a 200, so Slack does not retry or disable us."""

    return CoachApp(bolt, services)
