"""The villager's verdict on a reply: whether the reply asked for it, the 1 (满意) or 2 (不满意), and when.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode, for the reason given in 0004 (a table copy would cascade).
    op.add_column(
        "consultations",
        sa.Column("satisfaction_asked", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("consultations", sa.Column("satisfaction", sa.SmallInteger(), nullable=True))
    op.add_column("consultations", sa.Column("satisfaction_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("consultations", "satisfaction_at")
    op.drop_column("consultations", "satisfaction")
    op.drop_column("consultations", "satisfaction_asked")
