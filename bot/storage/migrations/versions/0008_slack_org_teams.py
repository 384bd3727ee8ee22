"""Workspaces of org-wide installs (Enterprise Grid): which organisation each team belongs to, kept across restarts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_org_teams",
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("enterprise_id", sa.String(32), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name="pk_slack_org_teams"),
    )
    op.create_index("slack_org_teams_enterprise_idx", "slack_org_teams", ["enterprise_id"])


def downgrade() -> None:
    op.drop_index("slack_org_teams_enterprise_idx", table_name="slack_org_teams")
    op.drop_table("slack_org_teams")
