"""slack-sdk's OAuth tables for the multi-workspace install: installations, bots, OAuth states (issue 11).

Same columns and indexes as slack_sdk.oauth's SQLAlchemy stores, token columns widened for ciphertext.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TOKEN = 1024


def _head() -> list[sa.Column]:
    return [sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("client_id", sa.String(32), nullable=False), sa.Column("app_id", sa.String(32), nullable=False),
            sa.Column("enterprise_id", sa.String(32)), sa.Column("enterprise_name", sa.String(200))]


def upgrade() -> None:
    op.create_table(
        "slack_installations", *_head(),
        sa.Column("enterprise_url", sa.String(200)), sa.Column("team_id", sa.String(32)),
        sa.Column("team_name", sa.String(200)), sa.Column("bot_token", sa.String(TOKEN)),
        sa.Column("bot_id", sa.String(32)), sa.Column("bot_user_id", sa.String(32)),
        sa.Column("bot_scopes", sa.String(1000)), sa.Column("bot_refresh_token", sa.String(TOKEN)),
        sa.Column("bot_token_expires_at", sa.DateTime()), sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("user_token", sa.String(TOKEN)), sa.Column("user_scopes", sa.String(1000)),
        sa.Column("user_refresh_token", sa.String(TOKEN)), sa.Column("user_token_expires_at", sa.DateTime()),
        sa.Column("incoming_webhook_url", sa.String(200)), sa.Column("incoming_webhook_channel", sa.String(200)),
        sa.Column("incoming_webhook_channel_id", sa.String(200)),
        sa.Column("incoming_webhook_configuration_url", sa.String(200)),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False), sa.Column("token_type", sa.String(32)),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
    )
    op.create_index("slack_installations_idx", "slack_installations",
                    ["client_id", "enterprise_id", "team_id", "user_id", "installed_at"])
    op.create_table(
        "slack_bots", *_head(),
        sa.Column("team_id", sa.String(32)), sa.Column("team_name", sa.String(200)),
        sa.Column("bot_token", sa.String(TOKEN)), sa.Column("bot_id", sa.String(32)),
        sa.Column("bot_user_id", sa.String(32)), sa.Column("bot_scopes", sa.String(1000)),
        sa.Column("bot_refresh_token", sa.String(TOKEN)), sa.Column("bot_token_expires_at", sa.DateTime()),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
    )
    op.create_index("slack_bots_idx", "slack_bots", ["client_id", "enterprise_id", "team_id", "installed_at"])
    op.create_table(
        "slack_oauth_states",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(200), nullable=False),
        sa.Column("expire_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slack_oauth_states")
    op.drop_index("slack_bots_idx", table_name="slack_bots")
    op.drop_table("slack_bots")
    op.drop_index("slack_installations_idx", table_name="slack_installations")
    op.drop_table("slack_installations")
