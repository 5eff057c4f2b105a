"""Curated answers need a staff approval: status (proposed / active / rejected), who decided and when.

Answers stored before this revision stay live when a staff member wrote or last edited them; those only a
volunteer touched become proposals, waiting in the staff's list like new ones.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_FK = "fk_curated_answers_decided_by_id_console_users"
_REFERENCES = "REFERENCES console_users (id)"
_STAFF_TOUCHED = (
    "UPDATE curated_answers SET status = 'active' WHERE created_by_id IN (SELECT id FROM console_users"
    " WHERE role = 'staff') OR updated_by_id IN (SELECT id FROM console_users WHERE role = 'staff')"
)


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode, for the reason given in 0004 (a table copy would cascade).
    op.add_column(
        "curated_answers",
        sa.Column("status", sa.String(16), server_default=sa.text("'proposed'"), nullable=False),
    )
    op.add_column("curated_answers", sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite takes a reference only inside the column's definition (Alembic would ALTER a constraint).
        op.execute(f"ALTER TABLE curated_answers ADD COLUMN decided_by_id INTEGER CONSTRAINT {_FK} {_REFERENCES}")
    else:
        op.add_column("curated_answers", sa.Column("decided_by_id", sa.Integer(), nullable=True))
        op.create_foreign_key(_FK, "curated_answers", "console_users", ["decided_by_id"], ["id"])
    op.execute(_STAFF_TOUCHED)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(_FK, "curated_answers", type_="foreignkey")
    op.drop_column("curated_answers", "decided_by_id")
    op.drop_column("curated_answers", "decided_at")
    op.drop_column("curated_answers", "status")
