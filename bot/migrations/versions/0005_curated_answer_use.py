"""Which curated answer a consultation's reply reused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-09-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode, for the reason given in 0004 (a table copy would cascade).
    op.add_column("consultations", sa.Column("curated_answer_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("consultations", "curated_answer_id")
