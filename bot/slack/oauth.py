"""Multi-workspace install: Bolt's OAuth flow, slack-sdk's SQLAlchemy stores, tokens encrypted at rest.

With SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and no SLACK_BOT_TOKEN the app runs in multi-workspace mode:
`/slack/install` shows Bolt's "Add to Slack" page, `/slack/oauth_redirect` finishes the install (state
checked against the database, so any worker can finish what another began), and every workspace's bot
token lives in the project's database (tables of migration 0003), Fernet-encrypted with COACH_TOKEN_KEY.
Bolt authorizes each request from that store; the work after the ack (inbox worker, pools, follow-ups)
runs outside Bolt's context, so it reads the workspace from a context variable set where the work
starts and gets that workspace's client and role resolver here: a call with no workspace in scope
fails closed (`NoWorkspace`) rather than use another workspace's token.

Enterprise Grid: an org-wide install (`is_enterprise_install`) is one bot token for every workspace of the
organisation, stored by Bolt as (enterprise_id, team_id=None). The workspace in scope stays the team id (incidents,
customers and stats are per workspace); its token is found as Bolt's InstallationStoreAuthorize finds it: the
(enterprise, team) install, else the org-wide one. Which organisation a team belongs to is learned from signed
requests, from the store's workspace installs, or asked of Slack (`auth.teams.list` with each org token); a team
that none of these places in an installed org has no token (fail closed). What is learned is also kept in the
database (`slack_org_teams`, bot/storage/org_teams.py), so a restarted worker and the CLI know it without Slack.
"""
from __future__ import annotations

import contextvars
import copy
import threading
import time
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation import TokenRotator

from bot.settings import Settings
from bot.slack.logging import get_logger
from bot.storage.org_teams import OrgTeams

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_bolt.oauth.oauth_settings import OAuthSettings
    from sqlalchemy.engine import Engine

log = get_logger("slack.oauth")
CURRENT_WORKSPACE: contextvars.ContextVar[str | None] = contextvars.ContextVar("coach_workspace", default=None)
STATE_SECONDS = 600  # an install begun is finished within 10 minutes or started again
ORG_TEAM_REFRESH_S = 3600.0  # a worker rewrites a (team, org) row it already wrote at most hourly (last_seen)


class ConfigProblem(ValueError):
    """Multi-workspace mode asked for but not configured well enough to run."""


class NoWorkspace(RuntimeError):
    """A Slack call with no workspace in scope (multi-workspace mode): refused, never guessed."""


class NotInstalled(RuntimeError):
    """The workspace in scope has no bot token (never installed, or uninstalled)."""


def multi_workspace(settings: Settings) -> bool:
    """Bolt's rule: client id and secret and no single bot token."""
    return settings.slack_bot_token is None and bool(settings.slack_client_id) and settings.slack_client_secret is not None


def check_settings(settings: Settings) -> None:
    """Raise ConfigProblem naming what multi-workspace mode still needs."""
    missing = [name for name, value in (("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
                                        ("COACH_TOKEN_KEY", settings.coach_token_key)) if value is None]
    if missing:
        raise ConfigProblem("multi-workspace mode (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET) also needs "
                            + " and ".join(missing))
    TokenCipher.from_settings(settings)  # a malformed key fails at start, not at the first install


# ------------------------------------------------------------------------------------ encryption
class TokenCipher:
    """Fernet (AES-128-CBC + HMAC-SHA256) over tokens; several keys, newest first, for key rotation."""

    PREFIX = "fernet:"

    def __init__(self, keys: list[str]):
        if not keys:
            raise ConfigProblem("COACH_TOKEN_KEY is empty")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError):
            raise ConfigProblem("COACH_TOKEN_KEY must be Fernet keys (32 url-safe base64 bytes each), "
                                "comma-separated: `coach config token-key` makes one") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> "TokenCipher":
        raw = settings.coach_token_key.get_secret_value() if settings.coach_token_key else ""
        return cls([part.strip() for part in raw.split(",") if part.strip()])

    def seal(self, value: str | None) -> str | None:
        if value is None or value.startswith(self.PREFIX):
            return value
        return self.PREFIX + self._fernet.encrypt(value.encode()).decode()

    def open(self, value: str | None) -> str | None:
        """The token; a value without the prefix is refused (a token stored in clear is not used)."""
        if value is None:
            return None
        if not value.startswith(self.PREFIX):
            log.error("token stored unencrypted: ignored")
            return None
        try:
            return self._fernet.decrypt(value[len(self.PREFIX):].encode()).decode()
        except InvalidToken:
            log.error("token does not decrypt with COACH_TOKEN_KEY: ignored")
            return None


class EncryptedInstallationStore(SQLAlchemyInstallationStore):
    """slack-sdk's SQLAlchemy installation store; bot/user access and refresh tokens sealed before every
    write and opened after every read, so the database and its backups never hold a usable token.

    Reads go to `reader` when one is given: on SQLite the store's writer engine begins every transaction with
    BEGIN IMMEDIATE (bot/storage/db.py), so each request's token lookup (Bolt's authorize) would otherwise take
    the database's write lock and queue behind the inbox's writes in every worker."""

    TOKENS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")

    def __init__(self, client_id: str, engine: "Engine", cipher: TokenCipher, reader: "Engine | None" = None):
        super().__init__(client_id=client_id, engine=engine, logger=get_logger("slack.installations"))
        self.cipher = cipher
        self.reader = reader or engine
        # the SDK's own find_* on the reader: the same store, read through another engine (None: this one)
        self._reads = EncryptedInstallationStore(client_id, self.reader, cipher) if self.reader is not engine else None

    def find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                 is_enterprise_install: bool | None = False) -> Bot | None:
        if self._reads is not None:
            return self._reads.find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                        is_enterprise_install=is_enterprise_install)
        return super().find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                is_enterprise_install=is_enterprise_install)

    def find_installation(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
                          is_enterprise_install: bool | None = False) -> Installation | None:
        if self._reads is not None:
            return self._reads.find_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
                                                 is_enterprise_install=is_enterprise_install)
        return super().find_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
                                         is_enterprise_install=is_enterprise_install)

    def _sealed(self, item: Any) -> Any:
        sealed = copy.copy(item)
        for name in self.TOKENS:
            if hasattr(sealed, name):
                setattr(sealed, name, self.cipher.seal(getattr(sealed, name)))
        return sealed

    def _opened(self, item: Any) -> Any:
        for name in self.TOKENS:
            if hasattr(item, name):
                setattr(item, name, self.cipher.open(getattr(item, name)))
        return item

    def save(self, installation: Installation) -> None:
        super().save(self._sealed(installation))  # its save_bot() gets sealed tokens: not sealed twice

    def save_bot(self, bot: Bot) -> None:
        super().save_bot(self._sealed(bot))

    def build_installation_entity(self, row: Any) -> Installation:  # type: ignore[override]
        return self._opened(SQLAlchemyInstallationStore.build_installation_entity(row))

    def build_bot_entity(self, row: Any) -> Bot:  # type: ignore[override]
        return self._opened(SQLAlchemyInstallationStore.build_bot_entity(row))

    def enterprise_of_team(self, team_id: str) -> str | None:
        """The enterprise of a workspace-level install on a Grid workspace (enterprise_id, team_id), if any."""
        from sqlalchemy import select

        c = self.bots.c
        with self.reader.connect() as connection:
            return connection.execute(select(c.enterprise_id).where(
                c.client_id == self.client_id, c.team_id == team_id, c.enterprise_id.is_not(None))
                .order_by(c.installed_at.desc()).limit(1)).scalar()

    def org_bots(self) -> list[Bot]:
        """The latest bot of every org-wide install (enterprise_id, team_id=None)."""
        from sqlalchemy import select

        c = self.bots.c
        with self.reader.connect() as connection:
            enterprises = connection.execute(select(c.enterprise_id).where(
                c.client_id == self.client_id, c.is_enterprise_install.is_(True), c.team_id.is_(None),
                c.enterprise_id.is_not(None)).distinct()).scalars().all()
        bots = [self.find_bot(enterprise_id=e, team_id=None, is_enterprise_install=True) for e in enterprises]
        return [bot for bot in bots if bot is not None]

    def count_bots(self) -> int:
        """Installed workspaces with a bot token (readiness: the store answers)."""
        from sqlalchemy import func, select

        with self.reader.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(self.bots)
                                          .where(self.bots.c.client_id == self.client_id)).scalar() or 0)


def database_engines(store: Any, settings: Settings) -> tuple["Engine", "Engine"]:
    """(writer, reader): the incident store's engines (same pools, SQLite pragmas and busy timeout; on a SQLite
    file the reader does not take the write lock); one new engine for both otherwise."""
    writer = getattr(store, "_writer", None)
    if writer is not None:
        return writer, getattr(store, "_reader", writer)
    from sqlalchemy import create_engine

    engine = create_engine(settings.coach_database_url, pool_pre_ping=True)
    return engine, engine


def build_oauth_settings(settings: Settings, installation_store: EncryptedInstallationStore,
                         engine: "Engine", on_installed: Callable[[Installation], None] | None = None
                         ) -> "OAuthSettings":
    """Bolt's OAuthSettings: the stores on our database, the manifest's scopes, token rotation on.

    `on_installed` runs after an install is saved and before Bolt's own success page (the first admin);
    its failure is logged and never fails the install."""
    from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
    from slack_bolt.oauth.oauth_settings import OAuthSettings
    from slack_bolt.response import BoltResponse

    def success(args: SuccessArgs) -> BoltResponse:
        if on_installed is not None:
            try:
                on_installed(args.installation)
            except Exception:  # noqa: BLE001 - the install itself succeeded; say so and carry on
                log.exception("after-install step failed", extra={"team": args.installation.team_id})
        return args.default.success(args)

    def failure(args: FailureArgs) -> BoltResponse:
        return args.default.failure(args)

    return OAuthSettings(
        callback_options=CallbackOptions(success=success, failure=failure),
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value() if settings.slack_client_secret else None,
        scopes=settings.slack_scopes,
        user_scopes=[],
        redirect_uri=settings.slack_redirect_uri,
        installation_store=installation_store,
        installation_store_bot_only=True,
        state_store=SQLAlchemyOAuthStateStore(expiration_seconds=STATE_SECONDS, engine=engine,
                                              logger=get_logger("slack.oauth_state")),
        state_expiration_seconds=STATE_SECONDS,
        token_rotation_expiration_minutes=120,
    )


# ------------------------------------------------------------------------------------ workspace scope
@contextmanager
def in_workspace(team_id: str | None) -> Iterator[None]:
    """Calls inside go to `team_id`'s Slack with its own token."""
    token = CURRENT_WORKSPACE.set(team_id or None)
    try:
        yield
    finally:
        CURRENT_WORKSPACE.reset(token)


def request_workspace(body: dict, context: Any, workspaces: "Workspaces") -> str | None:
    """The workspace (team id) a request authorised by Bolt belongs to; None when it cannot be established.

    A workspace install names its team in `authorizations` (Bolt's `context.team_id`). An org-wide install does
    not (`team_id: null`): the team is the payload's own (`team_id`, `team.id`, `user.team_id`, `view.team_id`),
    taken only when Slack says it is in the authorised org (the payload's `enterprise_id`), or when the org is
    known to hold it (`Workspaces.enterprise_of`); otherwise the request runs with no workspace: nothing
    is posted and no data is read (in Slack Connect the outer team can be the other organisation's)."""
    if not context.is_enterprise_install:
        if context.team_id and context.enterprise_id:
            workspaces.learn(context.team_id, context.enterprise_id)
        return context.team_id or None
    enterprise = context.enterprise_id
    team = _payload_team(body)
    if not enterprise or not team:
        return None
    if body.get("enterprise_id") == enterprise or _payload_enterprise(body) == enterprise:
        workspaces.learn(team, enterprise)
        return team
    return team if workspaces.enterprise_of(team) == enterprise else None


def _payload_team(body: dict) -> str | None:
    team = body.get("team")
    candidates = [body.get("team_id"), team.get("id") if isinstance(team, dict) else team,
                  (body.get("user") or {}).get("team_id") if isinstance(body.get("user"), dict) else None,
                  (body.get("view") or {}).get("team_id") if isinstance(body.get("view"), dict) else None]
    return next((c for c in candidates if isinstance(c, str) and c.startswith("T")), None)


def _payload_enterprise(body: dict) -> str | None:
    """Interactivity payloads name the org in `team.enterprise_id` or `enterprise.id` (events: `enterprise_id`)."""
    team, enterprise = body.get("team"), body.get("enterprise")
    if isinstance(team, dict) and team.get("enterprise_id"):
        return team["enterprise_id"]
    if isinstance(enterprise, dict):
        return enterprise.get("id")
    return enterprise if isinstance(enterprise, str) else None


def current_workspace() -> str:
    team = CURRENT_WORKSPACE.get()
    if not team:
        raise NoWorkspace("no workspace in scope for this Slack call")
    return team


@dataclass
class _Entry:
    client: WebClient
    roles: Any
    token: str
    checked_at: float
    enterprise: str | None = None
    org_wide: bool = False   # the token is the organisation's (Enterprise Grid org-wide install)


class Workspaces:
    """Per installed workspace: a WebClient with its bot token and a RoleResolver (its own identity and
    user cache: 'customer' is relative to the installing workspace). Entries are re-read from the store
    every `ttl` seconds, so an uninstall or a token rotation done by another worker is seen within it."""

    def __init__(self, store: EncryptedInstallationStore, settings: Settings,
                 make_client: Callable[[str], WebClient], ttl: float = 30.0):
        self.store, self.settings, self.make_client, self.ttl = store, settings, make_client, ttl
        secret = settings.slack_client_secret.get_secret_value() if settings.slack_client_secret else ""
        self.rotator = TokenRotator(client_id=settings.slack_client_id or "", client_secret=secret,
                                    client=make_client(""))
        self._entries: dict[str, _Entry] = {}
        self._orgs: dict[str, str] = {}            # team id -> enterprise id, as learned
        self._org_teams_checked: dict[str, float] = {}  # enterprise -> when auth.teams.list last answered
        self._persisted: dict[str, tuple[str, float]] = {}  # team -> (enterprise, when this worker wrote the row)
        self.org_teams = OrgTeams(store.engine, store.reader)
        self._lock = threading.Lock()
        # the settings a workspace's RoleResolver reads: its own role lists (bot/slack/workspace_config.py)
        self.settings_for: Callable[[str], Any] = lambda team: settings

    # ---- which organisation a workspace belongs to (Enterprise Grid) ----------------------------------
    def learn(self, team_id: str, enterprise_id: str) -> None:
        """Slack said so in a signed request: `team_id` is a workspace of `enterprise_id`."""
        self._learn_all(enterprise_id, [team_id])

    def _learn_all(self, enterprise_id: str, team_ids: list[str]) -> None:
        """Remember in memory; write to `slack_org_teams` only the pairs this worker has not written (or not within
        ORG_TEAM_REFRESH_S), so a request does not write. A failed write is logged and retried on a later request."""
        now = time.monotonic()
        with self._lock:
            for team in team_ids:
                self._orgs[team] = enterprise_id
            new = [team for team in team_ids if (written := self._persisted.get(team)) is None
                   or written[0] != enterprise_id or now - written[1] >= ORG_TEAM_REFRESH_S]
        if not new:
            return
        try:
            self.org_teams.record(enterprise_id, new)
        except Exception as exc:  # noqa: BLE001 - memory still serves this worker; the next request tries again
            log.warning("could not record the org's workspaces", extra={"enterprise": enterprise_id,
                                                                       "error": type(exc).__name__})
            return
        with self._lock:
            for team in new:
                self._persisted[team] = (enterprise_id, now)

    def _recorded_enterprise(self, team_id: str) -> str | None:
        """The org `slack_org_teams` places the team in (written by any worker); None on a database error."""
        try:
            enterprise = self.org_teams.enterprise_of(team_id)
        except Exception as exc:  # noqa: BLE001 - e.g. a database before migration 0008: Slack is asked instead
            log.warning("slack_org_teams unreadable", extra={"team": team_id, "error": type(exc).__name__})
            return None
        if enterprise:
            with self._lock:
                self._orgs[team_id] = enterprise
                self._persisted.setdefault(team_id, (enterprise, time.monotonic()))
        return enterprise

    def enterprise_of(self, team_id: str, ask_slack: bool = True) -> str | None:
        """The team's organisation: learned from a request, recorded in the database (by any worker, before a
        restart), from a workspace install on a Grid workspace, or from `auth.teams.list` with an org-wide
        install's token. None: not a workspace of any installed organisation that we know of."""
        with self._lock:
            known = self._orgs.get(team_id)
        if known:
            return known
        enterprise = self._recorded_enterprise(team_id)
        if enterprise:
            return enterprise
        enterprise = self.store.enterprise_of_team(team_id)
        if enterprise:
            self.learn(team_id, enterprise)
            return enterprise
        if not ask_slack:
            return None
        for bot in self.store.org_bots():
            if self._discover(bot) and team_id in self._org_teams(bot.enterprise_id):
                return bot.enterprise_id
        return None

    def _org_teams(self, enterprise_id: str | None) -> set[str]:
        with self._lock:
            return {team for team, org in self._orgs.items() if org == enterprise_id}

    def _discover(self, bot: Bot) -> bool:
        """Ask Slack which workspaces the org-wide install reaches (at most every `ttl` s per org)."""
        from slack_sdk.errors import SlackApiError

        enterprise = bot.enterprise_id or ""
        now = time.monotonic()
        with self._lock:
            checked = self._org_teams_checked.get(enterprise)
        if checked is not None and now - checked < self.ttl:
            return True
        client = self.make_client(bot.bot_token or "")
        teams: list[str] = []
        try:
            cursor = None
            while True:
                answer = client.auth_teams_list(cursor=cursor, limit=200)  # the SDK drops a None cursor
                teams += [t["id"] for t in answer.get("teams") or [] if t.get("id")]
                cursor = (answer.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except Exception as exc:  # noqa: BLE001 - unreachable or refused: the org's workspaces stay unknown
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("auth.teams.list failed: the org's workspaces stay unknown", extra={
                "enterprise": enterprise, "error": error})
            return False
        with self._lock:
            self._org_teams_checked[enterprise] = now
        if enterprise:
            self._learn_all(enterprise, teams)
        return True

    def _bot(self, team_id: str) -> Bot | None:
        """The team's bot as Bolt's InstallationStoreAuthorize finds it: its own install, (enterprise, team) on
        Grid, else its organisation's org-wide install (enterprise, None). Called at every entry refresh (`ttl`):
        an ordinary workspace install, the common case, is found in one read, without the Grid lookups."""
        with self._lock:
            enterprise = self._orgs.get(team_id)
        bot = None if enterprise else self.store.find_bot(enterprise_id=None, team_id=team_id)
        if bot is None:
            enterprise = enterprise or self.enterprise_of(team_id, ask_slack=False)
            bot = self.store.find_bot(enterprise_id=enterprise, team_id=team_id) if enterprise else None
        if bot is None:  # Slack is asked only for a team with no install of its own
            enterprise = enterprise or self.enterprise_of(team_id)
            if enterprise and self._still_reached(team_id, enterprise):
                bot = self.store.find_bot(enterprise_id=enterprise, team_id=None, is_enterprise_install=True)
        if bot is not None and bot.bot_refresh_token:
            rotated = self.rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=120)
            if rotated is not None:
                self.store.save_bot(rotated)
                log.info("bot token rotated", extra={"team": team_id, "enterprise": enterprise})
                bot = rotated
        return bot

    def _still_reached(self, team_id: str, enterprise: str) -> bool:
        """Whether the org's token may still be lent to `team_id`, re-checked at every entry refresh (`ttl`).

        `app_uninstalled_team` reaches one worker, which deletes the team's `slack_org_teams` row; the others would
        go on lending the org token from memory. A row this worker wrote or read that is gone now means exactly
        that: forget the team (fail closed until Slack lists it again). A row never written (the database refused)
        or an unreadable table leaves memory in charge, as before."""
        try:
            recorded = self.org_teams.enterprise_of(team_id)
        except Exception:  # noqa: BLE001 - e.g. a database before migration 0008: memory and Slack decide
            return True
        if recorded == enterprise:
            return True
        with self._lock:
            if team_id not in self._persisted:
                return True
            self._orgs.pop(team_id, None)
            self._persisted.pop(team_id, None)
        log.info("the org no longer reaches this workspace", extra={"team": team_id, "enterprise": enterprise})
        return False

    def entry(self, team_id: str) -> _Entry:
        from bot.slack import metrics
        from bot.slack.roles import Identity, RoleResolver

        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(team_id)
        if cached is not None and now - cached.checked_at < self.ttl:
            return cached
        bot = self._bot(team_id)
        if bot is None or not bot.bot_token:
            self.forget(team_id)
            raise NotInstalled(team_id)
        with self._lock:
            cached = self._entries.get(team_id)
            if cached is not None and cached.token == bot.bot_token:
                cached.checked_at = now
                return cached
            client = metrics.instrument_client(self.make_client(bot.bot_token))
            roles = RoleResolver(client, self.settings_for(team_id))
            org_wide = bool(bot.is_enterprise_install)
            if org_wide:  # the org token's auth.test names no workspace: 'ours' is this team in this org
                roles.seed_identity(Identity(team_id, bot.enterprise_id, bot.bot_user_id))
            entry = _Entry(client, roles, bot.bot_token, now, bot.enterprise_id, org_wide)
            self._entries[team_id] = entry
            return entry

    def org_install_of(self, team_id: str) -> str | None:
        """The enterprise whose org-wide install serves `team_id` (its configuration is the org's), else None."""
        try:
            entry = self.entry(team_id)
        except NotInstalled:
            return None
        return entry.enterprise if entry.org_wide else None

    def forget(self, team_id: str | None) -> None:
        with self._lock:
            self._entries.pop(team_id or "", None)

    def unlearn(self, team_id: str) -> None:
        """The org-wide install no longer reaches `team_id` (app_uninstalled_team): its token is not lent to it
        until Slack lists the workspace in the org again (`auth.teams.list`, re-asked every `ttl` s at most)."""
        self._delete_recorded(self.org_teams.forget_team, team_id)  # first: memory then has nothing to reload
        with self._lock:
            self._orgs.pop(team_id, None)
            self._persisted.pop(team_id, None)
            self._entries.pop(team_id, None)

    def forget_enterprise(self, enterprise_id: str | None) -> None:
        """Every workspace served by the org's token (org uninstalled or its bot token revoked), and which
        workspaces the org has: learned again (requests, auth.teams.list) if the org installs again."""
        if enterprise_id:
            self._delete_recorded(self.org_teams.forget_enterprise, enterprise_id)
        with self._lock:
            for team in [t for t, e in self._entries.items() if e.org_wide and e.enterprise == enterprise_id]:
                del self._entries[team]
            for team in [t for t, e in self._orgs.items() if e == enterprise_id]:
                del self._orgs[team]
                self._persisted.pop(team, None)
            self._org_teams_checked.pop(enterprise_id or "", None)

    @staticmethod
    def _delete_recorded(delete: Callable[[str], None], key: str) -> None:
        try:
            delete(key)
        except Exception as exc:  # noqa: BLE001 - the tokens are gone already; logged for the operator
            log.error("could not delete recorded org workspaces", extra={"key": key, "error": type(exc).__name__})


class WorkspaceClient:
    """Stands where the single WebClient stood (`services.client`): each attribute is the current
    workspace's client's. Raises NoWorkspace outside a workspace scope and NotInstalled for a workspace
    without a token."""

    def __init__(self, workspaces: Workspaces, base: WebClient):
        self._workspaces, self._base = workspaces, base

    @property
    def base_url(self) -> str:
        return self._base.base_url

    @property
    def token(self) -> str | None:
        team = CURRENT_WORKSPACE.get()
        return self._workspaces.entry(team).token if team else None

    def check(self) -> str | None:
        """Readiness in multi-workspace mode: the installation store answers (tokens are per workspace)."""
        count = self._workspaces.store.count_bots()
        return None if count >= 0 else "installation store"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._workspaces.entry(current_workspace()).client, name)


class WorkspaceRoles:
    """Stands where the single RoleResolver stood (`services.roles`): the current workspace's resolver."""

    def __init__(self, workspaces: Workspaces):
        self._workspaces = workspaces

    def __getattr__(self, name: str) -> Any:
        return getattr(self._workspaces.entry(current_workspace()).roles, name)


class ContextExecutor(Executor):
    """An executor that runs each task in a copy of the submitter's context variables (the workspace):
    Bolt's listener pool, whose tasks are submitted from the request thread after our middleware ran."""

    def __init__(self, inner: Executor):
        self.inner = inner

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self.inner.submit(contextvars.copy_context().run, fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)


def carry_workspace(executor: Any) -> None:
    """Tasks handed to `executor.submit` (the inference pool) keep the submitter's workspace."""
    submit = executor.submit

    def submit_in_context(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        team = CURRENT_WORKSPACE.get()
        if team is None:
            return submit(fn, *args, **kwargs)

        def scoped(*a: Any, **kw: Any) -> Any:
            with in_workspace(team):
                return fn(*a, **kw)

        scoped.__name__ = getattr(fn, "__name__", "task")
        return submit(scoped, *args, **kwargs)

    executor.submit = submit_in_context


def scope_inbox(worker: Any) -> None:
    """The inbox worker's items run in their workspace: the event's (`payload["workspace"]`), or for a
    queued card the workspace in scope when it was queued (recorded on `accept`)."""
    accept = worker.accept

    def accept_in_workspace(event_id: str, kind: str, payload: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        team = CURRENT_WORKSPACE.get()
        if team and not payload.get("workspace"):
            payload = {**payload, "workspace": team}
        return accept(event_id, kind, payload, *args, **kwargs)

    worker.accept = accept_in_workspace
    for kind, handler in list(worker.handlers.items()):
        worker.handle(kind, _scoped_handler(handler))


def _scoped_handler(handler: Callable[[Any], None]) -> Callable[[Any], None]:
    def run(entry: Any) -> None:
        with in_workspace((entry.payload or {}).get("workspace")):
            handler(entry)

    return run


# ------------------------------------------------------------------------------------ uninstall
def _installation_key(context: Any) -> tuple[str | None, str | None]:
    """(enterprise_id, team_id) of the installation an event was sent to: an org-wide one is (E, None),
    whichever of the org's workspaces the event names."""
    if context.is_enterprise_install:
        return context.enterprise_id, None
    return context.enterprise_id, context.team_id


def _forget(workspaces: Workspaces, context: Any, team_id: str | None) -> None:
    if team_id is None:
        workspaces.forget_enterprise(context.enterprise_id)
    else:
        workspaces.forget(team_id)


def register_uninstall(bolt: "App", store: EncryptedInstallationStore, workspaces: Workspaces) -> None:
    """app_uninstalled: every token of the installation deleted (an org-wide install's: the org's, nothing else);
    tokens_revoked: the revoked ones. Incidents stay (their text is blanked by COACH_TEXT_RETENTION_DAYS)."""

    @bolt.event("app_uninstalled")
    def on_app_uninstalled(context: Any) -> None:
        enterprise_id, team_id = _installation_key(context)
        store.delete_all(enterprise_id=enterprise_id, team_id=team_id)
        _forget(workspaces, context, team_id)
        log.info("app uninstalled: tokens deleted", extra={"team": team_id, "enterprise": enterprise_id})

    @bolt.event("app_uninstalled_team")
    def on_app_uninstalled_team(context: Any) -> None:
        """An org admin removed an org-wide app from one workspace: the org's tokens stay, that workspace's
        scope goes (the request's workspace is the removed one)."""
        if context.team_id:
            workspaces.unlearn(context.team_id)
        log.info("app removed from one workspace of the org", extra={"team": context.team_id,
                                                                     "enterprise": context.enterprise_id})

    @bolt.event("tokens_revoked")
    def on_tokens_revoked(event: dict, context: Any) -> None:
        enterprise_id, team_id = _installation_key(context)
        tokens = event.get("tokens") or {}
        for user_id in tokens.get("oauth") or []:
            store.delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        if tokens.get("bot"):
            store.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
            _forget(workspaces, context, team_id)
        log.info("tokens revoked: deleted", extra={"team": team_id, "enterprise": enterprise_id,
                                                   "bot": bool(tokens.get("bot")), "users": len(tokens.get("oauth") or [])})
