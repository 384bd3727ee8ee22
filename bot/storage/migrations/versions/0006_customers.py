"""Customer value from a real source (issue 12, item 2): the customers table `coach customers import` fills.

Emails and Slack user ids are kept as keyed pseudonyms (the store's HMAC key, as incidents keep customers),
so the table can be matched against without holding either in clear. Customers belong to a workspace (the
installing Slack team, as incidents do: issue 11, item 2): the key and the unique matches are per workspace, so
one workspace's import never values another's customer.

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
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("email_key", sa.String(length=32), nullable=True),
        sa.Column("slack_team", sa.String(length=64), nullable=True),
        sa.Column("slack_user_key", sa.String(length=32), nullable=True),
        sa.Column("lifetime_value", sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("workspace <> ''", name=op.f("ck_customers_workspace_not_empty")),
        sa.PrimaryKeyConstraint("workspace", "id", name="pk_customers"),
        sa.UniqueConstraint("workspace", "email_key", name="uq_customers_workspace_email_key"),
        sa.UniqueConstraint("workspace", "slack_team", "slack_user_key",
                            name="uq_customers_workspace_slack_team_slack_user_key"),
    )


def downgrade() -> None:
    op.drop_table("customers")
