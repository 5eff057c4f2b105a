"""Follow-up replies volunteers send to villagers through WeChat's customer-service messages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-08-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "volunteer_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            ondelete="CASCADE",
            name="fk_volunteer_replies_consultation_id_consultations",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["console_users.id"], name="fk_volunteer_replies_sender_id_console_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_volunteer_replies"),
    )
    op.create_index("ix_volunteer_replies_consultation_id", "volunteer_replies", ["consultation_id"])


def downgrade() -> None:
    op.drop_table("volunteer_replies")
