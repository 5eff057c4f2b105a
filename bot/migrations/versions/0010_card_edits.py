"""Situation card edits proposed in the console: the edited card, who proposed it, the staff decision.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'proposed'"), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["console_users.id"], name="fk_card_edits_created_by_id_console_users"
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["console_users.id"], name="fk_card_edits_decided_by_id_console_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_card_edits"),
    )
    op.create_index("ix_card_edits_card_id", "card_edits", ["card_id"])


def downgrade() -> None:
    op.drop_index("ix_card_edits_card_id", table_name="card_edits")
    op.drop_table("card_edits")
