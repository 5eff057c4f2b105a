"""Curated answers: a reviewer's corrected answer kept, with the articles chosen for it, for later reuse.

Staff can edit or retire them; a retired answer stays in the table (its history matters), just unused.
A volunteer's curated answer is only a proposal (bot/staff/approval.py): the bot uses an answer once
staff have approved it, and until it is retired.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from bot.answers.topics import CATEGORIES
from bot.records.models import Base
from bot.staff.approval import ACTIVE, Approval, decide, initial_decision
from bot.staff.plain_text import strip_xml_illegal
from bot.staff.users import ConsoleUser

MAX_ANSWER_CHARS = 2000  # about what fits a WeChat reply


class CuratedError(ValueError):
    """A curated answer that cannot be stored; the message names the field."""


class CuratedAnswer(Approval, Base):
    __tablename__ = "curated_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(Text)  # masked, as in the consultation it came from
    answer: Mapped[str] = mapped_column(Text)
    article_keys: Mapped[list[str]] = mapped_column(default=list)  # Article.key, in the order chosen
    category: Mapped[str] = mapped_column(String(32))
    source_consultation_id: Mapped[int | None] = mapped_column(
        ForeignKey("consultations.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("console_users.id"))
    created_at: Mapped[datetime]
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("console_users.id"))
    updated_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]

    created_by: Mapped[ConsoleUser] = relationship(foreign_keys=[created_by_id], lazy="joined")
    updated_by: Mapped[ConsoleUser] = relationship(foreign_keys=[updated_by_id], lazy="joined")
    decided_by: Mapped[ConsoleUser | None] = relationship(
        foreign_keys="CuratedAnswer.decided_by_id", lazy="joined"
    )

    @property
    def active(self) -> bool:
        """Whether the bot uses it: approved by staff and not retired."""
        return self.status == ACTIVE and self.retired_at is None


def _checked(
    question: str, answer: str, article_keys: Sequence[str], category: str
) -> tuple[str, str, list[str]]:
    # The answer goes into WeChat's XML replies: no control characters.
    question, answer = strip_xml_illegal(question).strip(), strip_xml_illegal(answer).strip()
    if not question or not answer:
        raise CuratedError("a curated answer needs both the question and the answer text.")
    if len(answer) > MAX_ANSWER_CHARS:
        raise CuratedError(f"the answer has {len(answer)} characters; keep it under {MAX_ANSWER_CHARS}.")
    if category not in CATEGORIES:
        raise CuratedError(f"category {category!r} is not one of the statistics categories.")
    return question, answer, list(dict.fromkeys(article_keys))


def create_curated(
    session: Session,
    *,
    question: str,
    answer: str,
    article_keys: Sequence[str],
    category: str,
    author: ConsoleUser,
    source_consultation_id: int | None = None,
    now: datetime | None = None,
) -> CuratedAnswer:
    """Store a curated answer: live at once when `author` is staff, else a proposal awaiting approval."""
    question, answer, keys = _checked(question, answer, article_keys, category)
    at = now or datetime.now(UTC)
    item = CuratedAnswer(
        question=question,
        answer=answer,
        article_keys=keys,
        category=category,
        source_consultation_id=source_consultation_id,
        created_by=author,
        created_at=at,
        updated_by=author,
        updated_at=at,
        **initial_decision(author, at),
    )
    session.add(item)
    session.commit()
    return item


def update_curated(
    session: Session,
    item: CuratedAnswer,
    *,
    question: str,
    answer: str,
    article_keys: Sequence[str],
    category: str,
    editor: ConsoleUser,
    now: datetime | None = None,
) -> None:
    item.question, item.answer, item.article_keys = _checked(question, answer, article_keys, category)
    item.category = category
    item.updated_by, item.updated_at = editor, now or datetime.now(UTC)
    session.commit()


def set_retired(
    session: Session, item: CuratedAnswer, *, retired: bool, editor: ConsoleUser, now: datetime | None = None
) -> None:
    at = now or datetime.now(UTC)
    item.retired_at = at if retired else None
    item.updated_by, item.updated_at = editor, at
    session.commit()


def decide_curated(
    session: Session, item: CuratedAnswer, decision: str, *, staff: ConsoleUser, now: datetime | None = None
) -> None:
    """Approve ("approve") or reject ("reject") a curated answer; ApprovalError unless `staff` is staff."""
    at = now or datetime.now(UTC)
    decide(item, decision, staff=staff, now=at)
    item.decided_by = staff
    item.updated_by, item.updated_at = staff, at  # the matchers reload on a new updated_at
    session.commit()


def list_curated(
    session: Session, *, include_retired: bool = False, status: str = ACTIVE
) -> list[CuratedAnswer]:
    """Curated answers with this approval status (by default the approved ones), newest edit first.

    With the defaults these are exactly the answers the bot may reuse.
    """
    stmt = (
        select(CuratedAnswer)
        .where(CuratedAnswer.status == status)
        .order_by(CuratedAnswer.updated_at.desc(), CuratedAnswer.id.desc())
    )
    if not include_retired:
        stmt = stmt.where(CuratedAnswer.retired_at.is_(None))
    return list(session.scalars(stmt))


def curated_for_consultation(session: Session, consultation_id: int) -> list[CuratedAnswer]:
    stmt = select(CuratedAnswer).where(CuratedAnswer.source_consultation_id == consultation_id)
    return list(session.scalars(stmt.order_by(CuratedAnswer.id)))
