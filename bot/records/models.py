"""The activity record as SQLAlchemy models: consultations, the articles retrieved for each, and events.

The schema is created by the Alembic migrations in bot/migrations (never by `create_all`); a test checks
that these models and the migrations do not drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

CHANNELS = ("wechat", "simulator", "cli")

# Fixed constraint names: migrations and the drift check then agree on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend: SQLite has no time zones, so it stores naive UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given; pass an aware one (datetime.now(UTC))."
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, list[Any]: JSON, list[str]: JSON, bytes: LargeBinary}


def own_values(row: Base) -> dict[str, Any]:
    """A row's column values without its ids (primary and foreign keys), which the database gives:
    what its spool entry is made from."""
    return {
        column.key: getattr(row, column.key)
        for column in row.__table__.columns
        if not column.primary_key and not column.foreign_keys
    }


def _flag() -> Mapped[bool]:
    return mapped_column(default=False, server_default=false())


class Consultation(Base):
    """One question and the reply sent; openid only encrypted and only until `openid_expires_at`."""

    __tablename__ = "consultations"
    __table_args__ = (
        UniqueConstraint("township", "msg_id"),  # WeChat retries the same MsgId: store it once
        # A record replayed from the spool (bot/records/spool.py) is stored once. A unique index, not a
        # constraint: SQLite can add an index without copying the table.
        Index("uq_consultations_spool_id", "spool_id", unique=True),
        Index("ix_consultations_user_ref_created_at", "user_ref", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(String(16))
    township: Mapped[str] = mapped_column(String(64))
    msg_id: Mapped[str | None] = mapped_column(String(64))
    spool_id: Mapped[str | None] = mapped_column(String(36))  # set when the record went through the spool
    user_ref: Mapped[str | None] = mapped_column(String(64))  # privacy.pseudonymize(openid)
    openid_enc: Mapped[bytes | None]  # privacy.encrypt_openid; purged after openid_expires_at
    openid_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    question: Mapped[str] = mapped_column(Text)  # phone and ID-card numbers masked
    category: Mapped[str] = mapped_column(String(32), index=True)
    reply: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)  # None: no composed answer (e.g. 人工)
    latency_ms: Mapped[float] = mapped_column(Float)
    no_hit: Mapped[bool] = _flag()
    emergency: Mapped[bool] = _flag()
    asked_for_person: Mapped[bool] = _flag()
    fallback: Mapped[bool] = _flag()
    cited: Mapped[list[str]] = mapped_column(default=list)  # Article.key quoted in the reply
    more: Mapped[list[str]] = mapped_column(default=list)  # Article.key still held back for 更多
    # The curated answer (bot/staff/curated.py) the reply reused. No foreign key: curated answers are retired,
    # never deleted, and one would make the two tables reference each other.
    curated_answer_id: Mapped[int | None] = mapped_column(Integer)
    # The villager's verdict (bot/conversation/dialogue.py): asked when the reply ended with 回复1满意，2不满意;
    # then 1 (满意) or 2 (不满意, first in the review queue) and when it came.
    satisfaction_asked: Mapped[bool] = _flag()
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    satisfaction_at: Mapped[datetime | None]

    review_status: Mapped[str] = mapped_column(
        String(16), default="unreviewed", server_default=text("'unreviewed'")
    )
    verdict: Mapped[str | None] = mapped_column(String(32))
    corrected_answer: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(Text)

    hits: Mapped[list[ConsultationHit]] = relationship(
        back_populates="consultation", cascade="all, delete-orphan", order_by="ConsultationHit.rank"
    )


class ConsultationHit(Base):
    """One retrieved article of a consultation, with its scores and the retrievers that found it."""

    __tablename__ = "consultation_hits"
    __table_args__ = (UniqueConstraint("consultation_id", "rank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)  # 1 = best
    article_key: Mapped[str] = mapped_column(String(160))
    law: Mapped[str] = mapped_column(String(128))
    number: Mapped[int] = mapped_column(Integer)
    chunk_id: Mapped[str] = mapped_column(String(160))
    score: Mapped[float] = mapped_column(Float)
    dense_score: Mapped[float | None] = mapped_column(Float)
    bm25_score: Mapped[float | None] = mapped_column(Float)
    retrievers: Mapped[list[str]] = mapped_column()  # "direct", "bm25", "dense"

    consultation: Mapped[Consultation] = relationship(back_populates="hits")


class Event(Base):
    """A subscribe / unsubscribe / menu event, counted once per (user, WeChat CreateTime, kind)."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("user_ref", "create_time", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)  # when pufa stored it
    township: Mapped[str] = mapped_column(String(64))
    user_ref: Mapped[str] = mapped_column(String(64))
    create_time: Mapped[int] = mapped_column(BigInteger)  # WeChat CreateTime (Unix seconds)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str | None] = mapped_column(String(128))  # EventKey of a menu click
