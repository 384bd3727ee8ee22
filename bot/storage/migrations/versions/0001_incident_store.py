"""Incident store: incidents, messages, compensations, corrections, follow-ups, playbook versions, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=12, scale=2, asdecimal=False)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _incident_fk(table: str) -> sa.Column:
    return sa.Column("incident_id", sa.Integer(),
                     sa.ForeignKey("incidents.id", ondelete="CASCADE", name=f"fk_{table}_incident_id_incidents"),
                     nullable=False)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(), nullable=nullable)  # naive UTC (see tables.UTCDateTime)


def _str(name: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def upgrade() -> None:
    meta = op.create_table(
        "store_meta",
        _str("key", 64), sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_store_meta"),
    )
    # default key for customer pseudonyms, created once with the schema so every worker shares it
    op.bulk_insert(meta, [{"key": "pseudonym_key", "value": secrets.token_hex(32)}])

    op.create_table(
        "processed_events",
        _str("event_id", 255), _ts("claimed_at"),
        sa.PrimaryKeyConstraint("event_id", name="pk_processed_events"),
    )
    op.create_index("ix_processed_events_claimed_at", "processed_events", ["claimed_at"])

    op.create_table(
        "incidents",
        _id(), _str("workspace", 64), _str("channel", 64), _str("thread_ts", 64), _str("customer", 64),
        _ts("opened_at"), _ts("last_message_at"), _str("language", 8),
        _str("complaint", 32), _str("complaint_last", 32), _str("tone_first", 16), _str("tone_last", 16),
        _str("severity", 16), _str("product", 200, True), _str("order_ref", 100, True),
        _str("timezone", 64, True), sa.Column("load_at_open", sa.Integer(), nullable=False),
        sa.Column("lifetime_value", MONEY, nullable=True), _str("currency", 8, True),
        sa.Column("message_count", sa.Integer(), nullable=False), _str("status", 16),
        _ts("resolved_at", True), _str("resolved_by", 64, True),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.UniqueConstraint("workspace", "channel", "thread_ts", name="uq_incidents_workspace_channel_thread_ts"),
    )
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])
    op.create_index("ix_incidents_workspace_status", "incidents", ["workspace", "status"])
    op.create_index("ix_incidents_workspace_customer", "incidents", ["workspace", "customer"])

    op.create_table(
        "incident_messages",
        _id(), _incident_fk("incident_messages"), _str("message_ts", 64), _ts("at"), _str("language", 8),
        _str("tone", 16), sa.Column("tone_confidence", sa.Double(), nullable=False), _str("model_tone", 16),
        _str("complaint", 32), sa.Column("complaint_confidence", sa.Double(), nullable=False),
        _str("model_complaint", 32), _str("severity", 16), sa.Column("text", sa.Text(), nullable=True),
        sa.Column("plan", sa.JSON(), nullable=False), sa.Column("shown_to", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incident_messages"),
        sa.UniqueConstraint("incident_id", "message_ts", name="uq_incident_messages_incident_id_message_ts"),
    )
    op.create_index("ix_incident_messages_at", "incident_messages", ["at"])

    op.create_table(
        "agent_replies",
        _id(), _incident_fk("agent_replies"), _str("agent", 64), sa.Column("nudged", sa.Boolean(), nullable=False),
        _ts("at"), sa.PrimaryKeyConstraint("id", name="pk_agent_replies"),
    )
    op.create_table(
        "suggestion_uses",
        _id(), _incident_fk("suggestion_uses"), _str("kind", 32), _str("by_user", 64), _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_suggestion_uses"),
    )
    op.create_table(
        "compensations",
        _id(), _incident_fk("compensations"), _str("option_id", 64), sa.Column("offer", sa.Text(), nullable=False),
        sa.Column("value", MONEY, nullable=False), _str("currency", 8), _str("state", 20), _str("by_user", 64),
        _str("approver", 64, True), _ts("created_at"), _ts("updated_at"), _str("updated_by", 64),
        sa.PrimaryKeyConstraint("id", name="pk_compensations"),
    )
    op.create_table(
        "corrections",
        _id(), _incident_fk("corrections"), _str("message_ts", 64), _str("tone", 16, True),
        _str("complaint", 32, True), _str("by_user", 64), _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_corrections"),
    )
    op.create_table(
        "follow_ups",
        _id(), _incident_fk("follow_ups"), _str("owner", 64), _str("when_spec", 16),
        sa.Column("action", sa.Text(), nullable=False), _ts("due_at"), _ts("created_at"),
        _str("claimed_by", 128, True), _ts("claimed_at", True), sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("sent_at", True), sa.PrimaryKeyConstraint("id", name="pk_follow_ups"),
    )
    op.create_index("ix_follow_ups_pending", "follow_ups", ["sent_at", "due_at"])
    op.create_table(
        "customer_flags",
        _id(), _str("workspace", 64), _str("customer", 64), _incident_fk("customer_flags"),
        sa.Column("note", sa.Text(), nullable=False), _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_customer_flags"),
    )
    op.create_index("ix_customer_flags_workspace_customer", "customer_flags", ["workspace", "customer"])
    for table in ("agent_replies", "suggestion_uses", "compensations", "corrections", "follow_ups", "customer_flags"):
        op.create_index(f"ix_{table}_incident_id", table, ["incident_id"])

    op.create_table(
        "playbook_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False), _str("author", 64), _ts("created_at"),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_playbook_versions"),
    )
    op.create_table(
        "audit_log",
        _id(), _ts("at"), _str("actor", 64), _str("action", 64), sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False), sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    for table in ("audit_log", "playbook_versions", "customer_flags", "follow_ups", "corrections", "compensations",
                  "suggestion_uses", "agent_replies", "incident_messages", "incidents", "processed_events",
                  "store_meta"):
        op.drop_table(table)
