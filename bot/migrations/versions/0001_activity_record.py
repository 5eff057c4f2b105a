"""Activity record: consultations, their retrieved articles, and events.

Revision ID: 0001
Revises:
Create Date: 2026-08-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Types are spelled out here, not imported from bot.records.models: a migration must keep meaning what it meant.
_TIME = sa.DateTime(timezone=True)


def _flag(name: str) -> sa.Column[bool]:
    return sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "consultations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("township", sa.String(64), nullable=False),
        sa.Column("msg_id", sa.String(64), nullable=True),
        sa.Column("user_ref", sa.String(64), nullable=True),
        sa.Column("openid_enc", sa.LargeBinary(), nullable=True),
        sa.Column("openid_expires_at", _TIME, nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        _flag("no_hit"),
        _flag("emergency"),
        _flag("asked_for_person"),
        _flag("fallback"),
        sa.Column("cited", sa.JSON(), nullable=False),
        sa.Column("more", sa.JSON(), nullable=False),
        sa.Column("review_status", sa.String(16), server_default=sa.text("'unreviewed'"), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=True),
        sa.Column("corrected_answer", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(64), nullable=True),
        sa.Column("reviewed_at", _TIME, nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_consultations"),
        sa.UniqueConstraint("township", "msg_id", name="uq_consultations_township_msg_id"),
    )
    op.create_index("ix_consultations_created_at", "consultations", ["created_at"])
    op.create_index("ix_consultations_category", "consultations", ["category"])
    op.create_index("ix_consultations_openid_expires_at", "consultations", ["openid_expires_at"])
    op.create_index("ix_consultations_user_ref_created_at", "consultations", ["user_ref", "created_at"])

    op.create_table(
        "consultation_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("article_key", sa.String(160), nullable=False),
        sa.Column("law", sa.String(128), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("chunk_id", sa.String(160), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("dense_score", sa.Float(), nullable=True),
        sa.Column("bm25_score", sa.Float(), nullable=True),
        sa.Column("retrievers", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consultation_hits"),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            ondelete="CASCADE",
            name="fk_consultation_hits_consultation_id_consultations",
        ),
        sa.UniqueConstraint("consultation_id", "rank", name="uq_consultation_hits_consultation_id_rank"),
    )

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("township", sa.String(64), nullable=False),
        sa.Column("user_ref", sa.String(64), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("user_ref", "create_time", "kind", name="uq_events_user_ref_create_time_kind"),
    )
    op.create_index("ix_events_created_at", "events", ["created_at"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("consultation_hits")
    op.drop_table("consultations")
