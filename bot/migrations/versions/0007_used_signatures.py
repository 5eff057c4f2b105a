"""Request signatures already used: a signed query string replayed with another body is refused.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
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
        "used_signatures",
        sa.Column("signature", sa.String(40), nullable=False),
        sa.Column("body_digest", sa.String(64), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("signature", name="pk_used_signatures"),
    )
    op.create_index("ix_used_signatures_until", "used_signatures", ["until"])


def downgrade() -> None:
    op.drop_index("ix_used_signatures_until", table_name="used_signatures")
    op.drop_table("used_signatures")
