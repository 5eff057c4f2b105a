"""Several workers and the record spool: turn claims, rate windows, the shared access token, spool ids.

Revision ID: 0004
Revises: 0003
Create Date: 2026-08-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE and a unique index, not batch mode: on SQLite, batch mode copies and drops the
    # table, and dropping consultations would cascade to consultation_hits.
    op.add_column("consultations", sa.Column("spool_id", sa.String(36), nullable=True))
    op.create_index("uq_consultations_spool_id", "consultations", ["spool_id"], unique=True)
    op.create_table(
        "turn_claims",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("lease_until", sa.Float(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_turn_claims"),
    )
    op.create_index("ix_turn_claims_created_at", "turn_claims", ["created_at"])
    op.create_table(
        "rate_windows",
        sa.Column("user_ref", sa.String(64), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_ref", "window", name="pk_rate_windows"),
    )
    op.create_table(
        "wechat_tokens",
        sa.Column("appid", sa.String(64), nullable=False),
        sa.Column("access_token", sa.String(512), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("appid", name="pk_wechat_tokens"),
    )


def downgrade() -> None:
    op.drop_table("wechat_tokens")
    op.drop_table("rate_windows")
    op.drop_index("ix_turn_claims_created_at", table_name="turn_claims")
    op.drop_table("turn_claims")
    op.drop_index("uq_consultations_spool_id", table_name="consultations")
    op.drop_column("consultations", "spool_id")
