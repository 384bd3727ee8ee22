"""Durable inbox of Slack events and the keys of handled interactions (issue 13, items 2 and 5).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(), nullable=nullable)  # naive UTC (see tables.UTCDateTime)


def _str(name: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), primary_key=True), _str("event_id", 255), _str("kind", 16),
        _str("channel", 64, True), _str("message_ts", 64, True), sa.Column("payload", sa.Text(), nullable=True),
        _str("state", 16), sa.Column("attempts", sa.Integer(), nullable=False), _ts("received_at"),
        _ts("next_attempt_at"), _str("claimed_by", 128, True), _ts("lease_until", True), _ts("finished_at", True),
        _str("last_error", 64, True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("event_id", name="uq_inbox_event_id"),
    )
    op.create_index("ix_inbox_due", "inbox", ["state", "next_attempt_at"])
    op.create_index("ix_inbox_message", "inbox", ["channel", "message_ts"])
    op.create_index("ix_inbox_finished_at", "inbox", ["finished_at"])

    op.create_table(
        "interaction_keys",
        _str("key", 128), _ts("created_at"), _ts("expires_at", True),
        sa.PrimaryKeyConstraint("key", name="pk_interaction_keys"),
    )
    op.create_index("ix_interaction_keys_expires_at", "interaction_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_table("interaction_keys")
    op.drop_table("inbox")
