"""Customer value from a real source (issue 12, item 2): the customers table `coach customers import` fills.

Emails and Slack user ids are kept as keyed pseudonyms (the store's HMAC key, as incidents keep customers),
so the table can be matched against without holding either in clear.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("email_key", sa.String(length=32), nullable=True),
        sa.Column("slack_team", sa.String(length=64), nullable=True),
        sa.Column("slack_user_key", sa.String(length=32), nullable=True),
        sa.Column("lifetime_value", sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("email_key", name="uq_customers_email_key"),
        sa.UniqueConstraint("slack_team", "slack_user_key", name="uq_customers_slack_team_slack_user_key"),
    )


def downgrade() -> None:
    op.drop_table("customers")
