"""Per-workspace configuration at run time (issue 11, item 2): each workspace's playbook, roles and coach channel.

In multi-workspace mode the workspace in scope (`oauth.CURRENT_WORKSPACE`, set for every request and carried into
the pools) picks its own configuration from the database (bot/storage/workspace_config.py); whatever it has not
set falls back to the file/env settings and the default playbook. Three stand-ins put that behind the names the
listeners already use: `services.settings` (WorkspaceSettings: COACH_ADMINS, _SUPERVISORS, _LEADS, _AGENTS,
_CUSTOMERS, _COACH_CHANNEL per workspace), `services.engine` (WorkspaceEngine: plans with the workspace's playbook)
and `services.playbooks` (WorkspacePlaybooks: versions, upload and rollback per workspace). With no workspace in
scope (single-workspace mode, the CLI) every one of them is the default, as before.

Enterprise Grid org-wide installs: the organisation has one configuration, stored under its enterprise id and
used by all its workspaces; a workspace's own stored configuration (say, from an install of its own before the org
install) overrides it setting by setting. `/recover` changes made in a workspace of the org change the org's
configuration, unless that workspace has its own row, which is then the one changed.

Caching across gunicorn workers: each worker keeps a workspace's parsed playbook and overrides, and re-reads the
row's `revision` at most every COACH_PLAYBOOK_CHECK_SECONDS; any change an admin makes bumps it, so every worker
reloads within that interval (the worker that made the change at once).
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from bot.coach.models import Classification, CustomerProfile, RecoveryPlan, ThreadMessage
from bot.coach.planner import plan_recovery
from bot.labels import Role
from bot.playbook import Playbook, parse_playbook
from bot.slack import metrics
from bot.slack.logging import get_logger
from bot.slack.oauth import CURRENT_WORKSPACE
from bot.storage.api import PlaybookVersion
from bot.storage.workspace_config import ROLE_LISTS, WorkspaceConfig, WorkspaceConfigs

if TYPE_CHECKING:
    from slack_bolt import Respond

    from bot.engine import RecoveryEngine
    from bot.settings import Settings
    from bot.slack.services import PlaybookSync

log = get_logger("slack.workspace_config")
OVERRIDABLE = frozenset({f"coach_{name}" for name in ROLE_LISTS} | {"coach_coach_channel"})
USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|^([UW][A-Z0-9]{2,})$")
CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>|^([CG][A-Z0-9]{2,})$")


def current_scope() -> str | None:
    """The workspace in scope (multi-workspace mode), or None (single-workspace mode: no filter, defaults)."""
    return CURRENT_WORKSPACE.get() or None


@dataclass(frozen=True)
class Loaded:
    """One workspace's configuration as this worker holds it."""

    config: WorkspaceConfig
    overrides: dict[str, object]
    playbook: Playbook | None        # None: the default playbook
    checked_at: float


class ConfigCache:
    """Per workspace: the stored overrides and parsed playbook, re-validated by revision every `interval` s."""

    def __init__(self, configs: WorkspaceConfigs, interval: float, clock: Callable[[], float] = time.monotonic):
        self.configs, self.interval, self.clock = configs, interval, clock
        self._loaded: dict[str, Loaded | None] = {}
        self._checked: dict[str, float] = {}
        self._lock = threading.Lock()
        # the enterprise whose org-wide install serves a team (oauth.Workspaces.org_install_of), else None
        self.org_of: Callable[[str], str | None] = lambda team: None

    def layers(self, team: str) -> list[Loaded]:
        """The configurations a workspace reads, first wins: its own, then its organisation's (org-wide install)."""
        own = self.get(team)
        org = self.org_of(team)
        shared = self.get(org) if org and org != team else None
        return [loaded for loaded in (own, shared) if loaded is not None]

    def scope(self, team: str) -> str:
        """Where a change made from `team` is stored: its own row if it has one, else its organisation's
        (org-wide install), else a new row of its own."""
        if self.get(team) is not None:
            return team
        return self.org_of(team) or team

    def get(self, team: str) -> Loaded | None:
        """The workspace's configuration, None when it has none. A database error with nothing cached raises:
        the caller fails closed (a workspace's customer list must never be silently dropped)."""
        now = self.clock()
        with self._lock:
            held, checked = self._loaded.get(team), self._checked.get(team)
        if checked is not None and now - checked < self.interval:
            return held
        try:
            revision = self.configs.revision(team)
            if revision is None:
                loaded = None
            elif held is not None and held.config.revision == revision:
                loaded = held
            else:
                loaded = self._load(team, held)
        except Exception as exc:
            if checked is None:
                raise
            log.warning("workspace configuration unreadable: keeping the one held", extra={
                "team": team, "error": type(exc).__name__})
            return held
        with self._lock:
            self._loaded[team], self._checked[team] = loaded, now
        return loaded

    def _load(self, team: str, held: Loaded | None) -> Loaded | None:
        config = self.configs.get(team)
        if config is None:
            return None
        playbook: Playbook | None = None
        if config.playbook is not None:
            if held is not None and held.playbook is not None and held.config.playbook is not None \
                    and held.config.playbook.version == config.playbook.version:
                playbook = held.playbook
            else:
                try:
                    playbook = parse_playbook(config.playbook.yaml_text, f"{team} playbook v{config.playbook.version}")
                except Exception:
                    log.error("stored workspace playbook does not parse; keeping the one held", extra={
                        "team": team, "version": config.playbook.version})
                    playbook = held.playbook if held is not None else None
        log.info("workspace configuration loaded", extra={
            "team": team, "revision": config.revision,
            "playbook": config.playbook.version if config.playbook else "default"})
        return Loaded(config, config.overrides(), playbook, self.clock())

    def invalidate(self, team: str) -> None:
        with self._lock:
            self._checked.pop(team, None)


class WorkspaceSettings:
    """Stands where `Settings` stood: the workspace in scope's role lists and coach channel, else the default's.
    `team` binds one workspace (its RoleResolver); without it the workspace in scope is read on each access."""

    def __init__(self, base: "Settings", cache: ConfigCache, team: str | None = None):
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_cache", cache)
        object.__setattr__(self, "_team", team)

    def __getattr__(self, name: str) -> Any:
        if name in OVERRIDABLE:
            team = self._team or current_scope()
            if team:
                for loaded in self._cache.layers(team):
                    if name in loaded.overrides:
                        return loaded.overrides[name]
        return getattr(self._base, name)

    def __setattr__(self, name: str, value: Any) -> None:  # tests and operators tune the shared settings
        setattr(self._base, name, value)

    def bound(self, team: str) -> "WorkspaceSettings":
        return WorkspaceSettings(self._base, self._cache, team)


class WorkspacePlaybooks:
    """Stands where PlaybookSync stood: the workspace in scope's playbook versions, else the default's."""

    def __init__(self, default: "PlaybookSync", cache: ConfigCache | None):
        self.default, self.cache = default, cache

    def _team(self) -> str | None:
        return current_scope() if self.cache is not None else None

    def _own(self, team: str | None) -> Loaded | None:
        """The layer (the workspace's, else its organisation's) whose playbook the workspace uses."""
        if team is None or self.cache is None:
            return None
        return next((loaded for loaded in self.cache.layers(team) if loaded.config.playbook is not None), None)

    def _scope(self) -> str | None:
        """Where the workspace in scope's playbook changes are stored (its own, or its organisation's)."""
        team = self._team()
        return self.cache.scope(team) if team is not None and self.cache is not None else None

    # ---- the default playbook (PlaybookSync) -----------------------------------------------------
    def bootstrap(self, source_text: str) -> None:
        self.default.bootstrap(source_text)

    def maybe_reload(self, force: bool = False) -> bool:
        if force and (team := self._team()) and self.cache is not None:
            self.cache.invalidate(team)
        return self.default.maybe_reload(force)

    # ---- per workspace ---------------------------------------------------------------------------
    @property
    def own(self) -> bool:
        """Whether the workspace in scope has a playbook of its own (else it uses the default)."""
        return self._own(self._team()) is not None

    @property
    def version(self) -> int | None:
        own = self._own(self._team())
        return own.config.playbook.version if own and own.config.playbook else self.default.version

    def playbook(self, fallback: Callable[[], Playbook]) -> Playbook:
        own = self._own(self._team())
        return own.playbook if own is not None and own.playbook is not None else fallback()

    def current(self) -> PlaybookVersion | None:
        team = self._team()
        if team is not None and self.cache is not None:
            own = self._own(team)
            if own is not None:
                return own.config.playbook
        return self.default.store.current_playbook()

    def history(self, limit: int = 20) -> list[PlaybookVersion]:
        team = self._scope()
        if team is not None and self.cache is not None:
            return self.cache.configs.playbook_history(team, limit)
        return self.default.store.playbook_history(limit)

    def get(self, number: int) -> PlaybookVersion | None:
        team = self._scope()
        if team is not None and self.cache is not None:
            return self.cache.configs.playbook_version(team, number)
        return self.default.store.playbook_version(number)

    def apply(self, yaml_text: str, author: str, note: str = "") -> PlaybookVersion:
        """Validate (the same safe loader: hostile YAML is refused), version and make live for the workspace in
        scope, or the default playbook when none is; raises PlaybookError and changes nothing when invalid."""
        team = self._scope()
        if team is None or self.cache is None:
            return self.default.apply(yaml_text, author, note)
        parse_playbook(yaml_text, "uploaded playbook")
        saved = self.cache.configs.save_playbook(team, yaml_text, author, note)
        self.cache.invalidate(team)
        metrics.set_playbook_version(team, saved.version)
        log.info("workspace playbook replaced", extra={"team": team, "version": saved.version, "author": author})
        return saved

    def use_default(self, author: str) -> bool:
        """The workspace in scope goes back to the default playbook; False outside multi-workspace mode."""
        team = self._scope()
        if team is None or self.cache is None:
            return False
        self.cache.configs.use_default_playbook(team, author)
        self.cache.invalidate(team)
        return True


class WorkspaceEngine:
    """Stands where RecoveryEngine stood: the shared classifier, the workspace in scope's playbook."""

    def __init__(self, inner: "RecoveryEngine", playbooks: WorkspacePlaybooks):
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_playbooks", playbooks)

    @property
    def playbook(self) -> Playbook:
        return self._playbooks.playbook(lambda: self._inner.playbook)

    def suggest(self, text: str, thread: list[ThreadMessage] | None = None, customer: CustomerProfile | None = None,
                agent_role: Role = "agent", has_files: bool = False,
                classification: Classification | None = None) -> RecoveryPlan:
        """RecoveryEngine.suggest with the workspace's playbook."""
        classification = classification or self._inner.classify(text)
        return plan_recovery(text, classification, self.playbook, thread, customer, agent_role, has_files)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


# ------------------------------------------------------------------------------------ /recover
CONFIG_HELP = ("`/recover config` — this workspace's roles, coach channel and playbook\n"
               "`/recover roles admins|supervisors|leads|agents|customers @a @b` (or `default`) — replace a role list\n"
               "`/recover coach-channel #channel | off | default` — where card copies go\n"
               "`/recover playbook default` — back to the default playbook")


def _users(args: list[str]) -> list[str] | None:
    found = []
    for arg in args:
        match = USER.search(arg)
        if not match:
            return None
        found.append(match.group(1) or match.group(2))
    return found


def config_lines(services: Any) -> list[str]:
    """What `/recover config` and an admin's App Home show: each setting and where it comes from."""
    team = current_scope()
    cache: ConfigCache | None = getattr(services.playbooks, "cache", None)
    layers = cache.layers(team) if team and cache is not None else []
    overrides = {name: value for loaded in reversed(layers) for name, value in loaded.overrides.items()}
    settings = services.settings
    org = cache.org_of(team) if team and cache is not None else None
    if not team:
        header = "*Single workspace* (settings from the environment)"
    elif org and cache is not None:
        header = (f"*Workspace {team}* of organisation {org} (org-wide install: the organisation's settings serve "
                  f"all its workspaces; changes made here apply to {cache.scope(team)})")
    else:
        header = f"*Workspace {team}*"
    lines = [header]
    for name in ROLE_LISTS:
        users = getattr(settings, f"coach_{name}")
        source = "set here" if f"coach_{name}" in overrides else f"default (COACH_{name.upper()})"
        lines.append(f"• {name}: {' '.join(f'<@{u}>' for u in users) or '_none_'} — {source}")
    channel = settings.coach_coach_channel
    source = "set here" if "coach_coach_channel" in overrides else "default (COACH_COACH_CHANNEL)"
    lines.append(f"• coach channel: {f'<#{channel}>' if channel else '_none_'} — {source}")
    current = services.playbooks.current()
    own = services.playbooks.own
    lines.append(f"• playbook: {'this workspace’s own' if own else 'the default'}"
                 + (f", v{current.version}" if current else ""))
    return lines


def config_command(services: Any, command: dict, respond: "Respond", sub: str, args: list[str]) -> None:
    """`/recover config | roles | coach-channel`: admins of the workspace the command came from only."""
    user = command["user_id"]
    action = f"workspace {sub}"
    if not services.roles.is_admin(user):
        services.store.record_audit(user, action, " ".join(args)[:200], allowed=False)
        respond(text=":no_entry: Only this workspace's admins can see or change its configuration. "
                     "This attempt was recorded.")
        return
    team = current_scope()
    scoped: ConfigCache | None = getattr(services.playbooks, "cache", None)
    configs: WorkspaceConfigs | None = scoped.configs if scoped is not None else None
    if team is not None and scoped is not None:
        team = scoped.scope(team)  # an org-wide install's workspace without a row of its own: the org's
    if sub == "config":
        services.store.record_audit(user, action, "", allowed=True)
        respond(text="\n".join(config_lines(services)) + "\n\n" + CONFIG_HELP)
        return
    if team is None or configs is None:
        respond(text="In single-workspace mode the roles and coach channel come from the environment "
                     "(COACH_ADMINS, COACH_SUPERVISORS, COACH_LEADS, COACH_AGENTS, COACH_CUSTOMERS, COACH_COACH_CHANNEL).")
        return
    if sub == "roles":
        role = args[0].lower() if args else ""
        users = None if args[1:] == ["default"] else _users(args[1:])
        if role not in ROLE_LISTS or (users is None and args[1:] != ["default"]) or (users == [] and role == "admins"):
            respond(text="Usage: `/recover roles admins|supervisors|leads|agents|customers @a @b` "
                         "(mention people), or `/recover roles <role> default`; admins cannot be emptied.")
            return
        if role == "admins" and users is not None and user not in users:
            respond(text=":warning: Keep yourself in the admins list (or ask another admin to change it), "
                         "so the workspace is never left without one.")
            return
        configs.set_roles(team, role, users, by=user)
        detail = "default" if users is None else " ".join(users)
        answer = f"the default (COACH_{role.upper()})" if users is None else \
            (" ".join(f"<@{u}>" for u in users) or "nobody")
    else:  # coach-channel
        arg = args[0] if args else ""
        match = CHANNEL.search(arg)
        channel = None if arg == "default" else ("" if arg == "off" else (match.group(1) or match.group(2)) if match else "?")
        if channel == "?":
            respond(text="Usage: `/recover coach-channel #channel | off | default`")
            return
        configs.set_coach_channel(team, channel, by=user)
        role, detail = "coach channel", arg
        answer = "the default (COACH_COACH_CHANNEL)" if channel is None else (f"<#{channel}>" if channel else "off")
    cache: ConfigCache = services.playbooks.cache
    cache.invalidate(team)
    services.store.record_audit(user, action, detail[:200], allowed=True)
    log.info("workspace configuration changed", extra={"team": team, "user": user, "what": role})
    respond(text=f":white_check_mark: {role.capitalize()}: {answer}. Live in every worker within "
                 f"{cache.interval:g} s.")
