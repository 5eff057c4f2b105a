"""Volunteer review: the queue of consultations to check, and verdicts kept as a history.

Each verdict is a new `Review` row (who, when, what); the consultation's own review columns mirror the
latest one, so the queue and the statistics need no join.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, ForeignKey, String, Text, and_, case, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from bot.answers.topics import CATEGORIES
from bot.records.models import Base, Consultation
from bot.staff.plain_text import strip_xml_illegal
from bot.staff.users import ConsoleUser

VERDICTS = {"correct": "正确", "partly": "部分正确", "wrong": "错误"}  # stored value → what the console shows
REVIEWED = "reviewed"
LOW_CONFIDENCE = 0.5  # below this (or no hit, or a fallback reply) an answer is worth a volunteer's look
MAX_TEXT_CHARS = 4000
DISSATISFIED = 2  # the villager replied 2 (不满意) to the answer: first in the queue until reviewed


class ReviewError(ValueError):
    """A verdict that cannot be stored; the message names the field."""


class Review(Base):
    __tablename__ = "consultation_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("console_users.id"))
    created_at: Mapped[datetime]
    verdict: Mapped[str] = mapped_column(String(16))
    corrected_answer: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    category_before: Mapped[str] = mapped_column(String(32))
    category_after: Mapped[str] = mapped_column(String(32))

    reviewer: Mapped[ConsoleUser] = relationship(lazy="joined")

    @property
    def verdict_label(self) -> str:
        return VERDICTS.get(self.verdict, self.verdict)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the reviewer asked to see; times are UTC bounds of a half-open range [start, end)."""

    unreviewed: bool = False
    low_confidence: bool = False
    asked_for_person: bool = False
    category: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.unreviewed:
            where.append(Consultation.review_status != REVIEWED)
        if self.low_confidence:
            where.append(
                or_(
                    Consultation.confidence < LOW_CONFIDENCE,
                    Consultation.no_hit.is_(True),
                    Consultation.fallback.is_(True),
                )
            )
        if self.asked_for_person:
            where.append(Consultation.asked_for_person.is_(True))
        if self.category:
            where.append(Consultation.category == self.category)
        if self.start is not None:
            where.append(Consultation.created_at >= self.start)
        if self.end is not None:
            where.append(Consultation.created_at < self.end)
        return where


def review_queue(
    session: Session, flt: QueueFilter, *, limit: int = 20, offset: int = 0
) -> tuple[list[Consultation], int]:
    """One page of consultations matching `flt`, with their hits loaded; and the total. Answers the villager
    found unsatisfactory (2) and no volunteer has reviewed yet come first, then the rest; newest first in each."""
    where = flt.conditions()
    total = session.scalar(select(func.count(Consultation.id)).where(*where)) or 0
    stmt = (
        select(Consultation)
        .where(*where)
        .options(selectinload(Consultation.hits))
        .order_by(_dissatisfied_first(), Consultation.created_at.desc(), Consultation.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt)), total


def _dissatisfied_first() -> ColumnElement[int]:
    waiting = and_(Consultation.satisfaction == DISSATISFIED, Consultation.review_status != REVIEWED)
    return case((waiting, 0), else_=1)


def get_consultation(session: Session, consultation_id: int) -> Consultation | None:
    stmt = (
        select(Consultation)
        .where(Consultation.id == consultation_id)
        .options(selectinload(Consultation.hits))
    )
    return session.scalars(stmt).first()


def review_history(session: Session, consultation_id: int) -> list[Review]:
    """Every verdict on a consultation, oldest first."""
    stmt = (
        select(Review).where(Review.consultation_id == consultation_id).order_by(Review.created_at, Review.id)
    )
    return list(session.scalars(stmt))


def _clean(text: str | None, field: str) -> str | None:
    text = strip_xml_illegal(text or "").strip()
    if len(text) > MAX_TEXT_CHARS:
        raise ReviewError(f"{field} has {len(text)} characters; keep it under {MAX_TEXT_CHARS}.")
    return text or None


def record_review(
    session: Session,
    consultation: Consultation,
    *,
    reviewer: ConsoleUser,
    verdict: str,
    corrected_answer: str | None = None,
    note: str | None = None,
    category: str | None = None,
    now: datetime | None = None,
) -> Review:
    """Store a verdict (a new history row), mirror it on the consultation, and commit."""
    if verdict not in VERDICTS:
        raise ReviewError(f"verdict {verdict!r} is unknown; use one of {', '.join(VERDICTS)}.")
    if category is not None and category not in CATEGORIES:
        raise ReviewError(f"category {category!r} is not one of the statistics categories.")
    at = now or datetime.now(UTC)
    review = Review(
        consultation_id=consultation.id,
        reviewer=reviewer,
        created_at=at,
        verdict=verdict,
        corrected_answer=_clean(corrected_answer, "corrected answer"),
        note=_clean(note, "note"),
        category_before=consultation.category,
        category_after=category or consultation.category,
    )
    session.add(review)
    consultation.review_status, consultation.verdict = REVIEWED, verdict
    consultation.corrected_answer, consultation.review_note = review.corrected_answer, review.note
    consultation.reviewer, consultation.reviewed_at = reviewer.username, at
    consultation.category = review.category_after
    session.commit()
    return review
