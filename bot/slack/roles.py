"""Who is a customer and who is an agent, from Slack's own user records (cached).

A customer is a user of another workspace (Slack Connect: `users.info` team differs from our
`auth.test` team, or the enterprise differs on Enterprise Grid), a guest (restricted or
ultra-restricted account), or a user listed in COACH_CUSTOMERS. Everyone else who is human and
internal is an agent, or only the users in COACH_AGENTS when that list is set.

Fail closed: when a side cannot be established (our own team unknown because `auth.test` failed, or the
user's `users.info` failed or names no team) the user is "unknown", and unknown users get nothing internal:
no card, no nudge, no DM, no App Home data. Coaching an external customer by mistake is the one error that
must never happen; a missed card is retried later.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

from slack_sdk import WebClient

from bot.labels import Role
from bot.settings import Settings
from bot.slack.resilience import safe_call

Kind = Literal["customer", "agent", "other", "unknown"]


@dataclass(frozen=True)
class SlackUser:
    id: str
    team_id: str | None
    enterprise_id: str | None
    is_bot: bool
    is_restricted: bool
    is_ultra_restricted: bool
    deleted: bool
    tz: str | None
    locale: str | None
    email: str | None = None       # profile email (users:read.email): finds the customer in the customers table


@dataclass(frozen=True)
class Identity:
    team_id: str | None
    enterprise_id: str | None
    bot_user_id: str | None


class RoleResolver:
    """Caches users.info for `ttl` seconds and auth.test for the life of the process."""

    def __init__(self, client: WebClient, settings: Settings, ttl: float = 600.0):
        self.client = client
        self.settings = settings
        self.ttl = ttl
        self._users: dict[str, tuple[float, SlackUser | None]] = {}
        self._fields: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._identity: Identity | None = None
        self._lock = threading.Lock()

    def seed_identity(self, identity: Identity) -> None:
        """Our side as the installation names it (an org-wide token's auth.test names no workspace)."""
        self._identity = identity

    def identity(self) -> Identity:
        if self._identity is None:
            response = safe_call("auth.test", self.client.auth_test)
            if response is None:
                return Identity(None, None, None)  # not cached: try again next time
            self._identity = Identity(response.get("team_id"), response.get("enterprise_id"), response.get("user_id"))
        return self._identity

    def user(self, user_id: str) -> SlackUser | None:
        now = time.monotonic()
        with self._lock:
            cached = self._users.get(user_id)
            if cached and now - cached[0] < self.ttl:
                return cached[1]
        response = safe_call("users.info", self.client.users_info, user=user_id)
        if response is None:
            return None
        raw = response.get("user") or {}
        user = SlackUser(
            id=user_id,
            team_id=raw.get("team_id"),
            enterprise_id=(raw.get("enterprise_user") or {}).get("enterprise_id"),
            is_bot=bool(raw.get("is_bot")) or user_id == "USLACKBOT",
            is_restricted=bool(raw.get("is_restricted")),
            is_ultra_restricted=bool(raw.get("is_ultra_restricted")),
            deleted=bool(raw.get("deleted")),
            tz=raw.get("tz"),
            locale=raw.get("locale"),
            email=(raw.get("profile") or {}).get("email") or None,
        )
        with self._lock:
            self._users[user_id] = (now, user)
        return user

    def profile_field(self, user_id: str, field_id: str) -> str | None:
        """A custom profile field's value (users.profile.get), cached like users.info; a failed call is not
        cached (None now, asked again next time)."""
        now = time.monotonic()
        with self._lock:
            cached = self._fields.get((user_id, field_id))
            if cached and now - cached[0] < self.ttl:
                return cached[1]
        response = safe_call("users.profile.get", self.client.users_profile_get, user=user_id)
        if response is None:
            return None
        value = ((((response.get("profile") or {}).get("fields") or {}).get(field_id) or {}).get("value")) or None
        with self._lock:
            self._fields[(user_id, field_id)] = (now, value)
        return value

    def kind(self, user_id: str | None) -> Kind:
        if not user_id:
            return "other"
        if user_id in self.settings.coach_customers:
            return "customer"
        user = self.user(user_id)
        if user is None:
            return "unknown"  # users.info failed: we cannot tell a customer from an agent
        if user.is_bot or user.deleted:
            return "other"
        if user.is_restricted or user.is_ultra_restricted:
            return "customer"
        external = self._external(user)
        if external is None:
            return "unknown"
        if external:
            return "customer"
        if self.settings.coach_agents and user_id not in self.settings.coach_agents:
            return "other"
        return "agent"

    def _external(self, user: SlackUser) -> bool | None:
        """True for another organisation's user, False for ours, None when that cannot be established."""
        me = self.identity()
        if me.team_id is None:
            return None
        if me.enterprise_id and user.enterprise_id:
            return user.enterprise_id != me.enterprise_id
        if not user.team_id:
            return None
        return user.team_id != me.team_id

    def is_customer(self, user_id: str | None) -> bool:
        return self.kind(user_id) == "customer"

    def is_agent(self, user_id: str | None) -> bool:
        """Only a user established as one of ours; unknown is never an agent."""
        return self.kind(user_id) == "agent"

    def is_internal_staff(self, user_id: str | None) -> bool:
        """May see internal data (App Home): an established agent, or a configured supervisor/admin of our team."""
        kind = self.kind(user_id)
        if kind == "agent":
            return True
        return kind == "other" and bool(user_id) and self.is_supervisor(user_id) and self._is_ours(user_id)

    def _is_ours(self, user_id: str) -> bool:
        user = self.user(user_id)
        return user is not None and not user.is_bot and not user.deleted and not user.is_restricted \
            and not user.is_ultra_restricted and self._external(user) is False

    def authority(self, user_id: str) -> Role:
        """The user's rung on the playbook's authority ladder (agent < lead < supervisor)."""
        if user_id in self.settings.coach_supervisors:
            return "supervisor"
        if user_id in self.settings.coach_leads:
            return "lead"
        return "agent"

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.settings.coach_admins

    def is_supervisor(self, user_id: str) -> bool:
        return user_id in self.settings.coach_supervisors or user_id in self.settings.coach_leads \
            or self.is_admin(user_id)
