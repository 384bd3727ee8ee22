"""The checklist of "a complaint is a gift": steps an agent performed in words, per incident (issue 12, item 7).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checklist_steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="CASCADE",
                                                             name="fk_checklist_steps_incident_id_incidents"),
                  nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("by_user", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_checklist_steps"),
        sa.UniqueConstraint("incident_id", "step", name="uq_checklist_steps_incident_id_step"),
    )
    op.create_index("ix_checklist_steps_incident_id", "checklist_steps", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_checklist_steps_incident_id", table_name="checklist_steps")
    op.drop_table("checklist_steps")
