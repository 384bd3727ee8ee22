"""slack-sdk's OAuth tables (installations, bots, OAuth states) as this schema has them (migration 0003).

Why here: slack_sdk.oauth's SQLAlchemy stores query these tables by name with their own Table objects;
we create them through alembic like every other table, and keep them in `Base.metadata` so the
migrations-match-the-models test covers them. Token columns are wider than slack-sdk's 200 characters
because they hold Fernet ciphertext (bot/slack/oauth.py), not tokens.
"""
from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table

from bot.storage.tables import Base

TOKEN = 1024  # a Fernet token of a ~100-character rotating token is ~250 characters; room for longer ones


def _common() -> list:
    return [Column("id", Integer, primary_key=True, autoincrement=True),
            Column("client_id", String(32), nullable=False), Column("app_id", String(32), nullable=False),
            Column("enterprise_id", String(32)), Column("enterprise_name", String(200))]


slack_installations = Table(
    "slack_installations", Base.metadata,
    *_common(),
    Column("enterprise_url", String(200)), Column("team_id", String(32)), Column("team_name", String(200)),
    Column("bot_token", String(TOKEN)), Column("bot_id", String(32)), Column("bot_user_id", String(32)),
    Column("bot_scopes", String(1000)), Column("bot_refresh_token", String(TOKEN)),
    Column("bot_token_expires_at", DateTime), Column("user_id", String(32), nullable=False),
    Column("user_token", String(TOKEN)), Column("user_scopes", String(1000)),
    Column("user_refresh_token", String(TOKEN)), Column("user_token_expires_at", DateTime),
    Column("incoming_webhook_url", String(200)), Column("incoming_webhook_channel", String(200)),
    Column("incoming_webhook_channel_id", String(200)), Column("incoming_webhook_configuration_url", String(200)),
    Column("is_enterprise_install", Boolean, nullable=False, default=False), Column("token_type", String(32)),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
)

slack_bots = Table(
    "slack_bots", Base.metadata,
    *_common(),
    Column("team_id", String(32)), Column("team_name", String(200)), Column("bot_token", String(TOKEN)),
    Column("bot_id", String(32)), Column("bot_user_id", String(32)), Column("bot_scopes", String(1000)),
    Column("bot_refresh_token", String(TOKEN)), Column("bot_token_expires_at", DateTime),
    Column("is_enterprise_install", Boolean, nullable=False, default=False),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)

slack_oauth_states = Table(
    "slack_oauth_states", Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False),
    Column("expire_at", DateTime, nullable=False),
)

# Which workspaces (team ids) belong to an organisation installed org-wide (Enterprise Grid), as learned from
# signed requests, Grid workspace installs or auth.teams.list (migration 0008): a restarted worker and the CLI
# place a team in its org without asking Slack. A workspace belongs to one organisation: the team id is the key.
slack_org_teams = Table(
    "slack_org_teams", Base.metadata,
    Column("team_id", String(32), primary_key=True),
    Column("enterprise_id", String(32), nullable=False),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
    Index("slack_org_teams_enterprise_idx", "enterprise_id"),
)
