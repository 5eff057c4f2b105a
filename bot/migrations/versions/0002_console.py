"""Review console: users, log-in attempts, sessions, the review history and curated answers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-08-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Types are spelled out here, not imported from bot.*: a migration must keep meaning what it meant.
_TIME = sa.DateTime(timezone=True)


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, _TIME, nullable=nullable)


def _user_fk(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["console_users.id"], name=f"fk_{table}_{column}_console_users")


def _console_tables() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        _time("created_at"),
        _time("password_changed_at"),
        sa.PrimaryKeyConstraint("id", name="pk_console_users"),
        sa.UniqueConstraint("username", name="uq_console_users_username"),
    )
    op.create_table(
        "console_login_attempts",
        sa.Column("username", sa.String(256), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _time("last_failure_at"),
        _time("locked_until", nullable=True),
        sa.PrimaryKeyConstraint("username", name="pk_console_login_attempts"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["console_users.id"],
            ondelete="CASCADE",
            name="fk_console_sessions_user_id_console_users",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_console_sessions"),
    )
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])


def _review_tables() -> None:
    op.create_table(
        "consultation_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("corrected_answer", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("category_before", sa.String(32), nullable=False),
        sa.Column("category_after", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            ondelete="CASCADE",
            name="fk_consultation_reviews_consultation_id_consultations",
        ),
        _user_fk("reviewer_id", "consultation_reviews"),
        sa.PrimaryKeyConstraint("id", name="pk_consultation_reviews"),
    )
    op.create_index("ix_consultation_reviews_consultation_id", "consultation_reviews", ["consultation_id"])
    op.create_table(
        "curated_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("article_keys", sa.JSON(), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("source_consultation_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.Column("updated_by_id", sa.Integer(), nullable=False),
        _time("updated_at"),
        _time("retired_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["source_consultation_id"],
            ["consultations.id"],
            ondelete="SET NULL",
            name="fk_curated_answers_source_consultation_id_consultations",
        ),
        _user_fk("created_by_id", "curated_answers"),
        _user_fk("updated_by_id", "curated_answers"),
        sa.PrimaryKeyConstraint("id", name="pk_curated_answers"),
    )
    op.create_index(
        "ix_curated_answers_source_consultation_id", "curated_answers", ["source_consultation_id"]
    )


def upgrade() -> None:
    _console_tables()
    _review_tables()


def downgrade() -> None:
    op.drop_table("curated_answers")
    op.drop_table("consultation_reviews")
    op.drop_table("console_sessions")
    op.drop_table("console_login_attempts")
    op.drop_table("console_users")
