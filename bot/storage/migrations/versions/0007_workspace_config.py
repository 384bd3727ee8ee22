"""Per-workspace configuration (issue 11, item 2): each installed workspace's roles, coach channel and playbook.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspace_settings",
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("admins", sa.JSON(), nullable=True),
        sa.Column("supervisors", sa.JSON(), nullable=True),
        sa.Column("leads", sa.JSON(), nullable=True),
        sa.Column("agents", sa.JSON(), nullable=True),
        sa.Column("customers", sa.JSON(), nullable=True),
        sa.Column("coach_channel", sa.String(length=64), nullable=True),
        sa.Column("playbook_version", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("workspace", name="pk_workspace_settings"),
    )
    op.create_table(
        "workspace_playbooks",
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "version", name="pk_workspace_playbooks"),
    )


def downgrade() -> None:
    op.drop_table("workspace_playbooks")
    op.drop_table("workspace_settings")
