"""Less noise (issue 12, item 5): engaged agents per thread, on-duty agents per channel, the card each agent holds.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "thread_agents",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("thread_ts", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("first_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_thread_agents"),
        sa.UniqueConstraint("workspace", "channel", "thread_ts", "agent",
                            name="uq_thread_agents_workspace_channel_thread_ts_agent"),
    )
    # agents who already replied in a customer thread stay engaged in it across the upgrade
    op.execute(sa.text(
        "INSERT INTO thread_agents (workspace, channel, thread_ts, agent, first_at, last_at) "
        "SELECT i.workspace, i.channel, i.thread_ts, r.agent, MIN(r.at), MAX(r.at) "
        "FROM agent_replies r JOIN incidents i ON i.id = r.incident_id "
        "GROUP BY i.workspace, i.channel, i.thread_ts, r.agent"))
    op.create_table(
        "channel_on_duty",
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("agents", sa.JSON(), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "channel", name="pk_channel_on_duty"),
    )
    op.create_table(
        "thread_cards",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("thread_ts", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("message_ts", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("updates", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("response_url", sa.String(length=512), nullable=True),
        sa.Column("response_url_at", sa.DateTime(), nullable=True),
        sa.Column("response_url_uses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_thread_cards"),
        sa.UniqueConstraint("workspace", "channel", "thread_ts", "agent",
                            name="uq_thread_cards_workspace_channel_thread_ts_agent"),
    )


def downgrade() -> None:
    op.drop_table("thread_cards")
    op.drop_table("channel_on_duty")
    op.drop_table("thread_agents")
