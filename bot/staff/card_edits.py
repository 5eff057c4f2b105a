"""Edits to the situation cards (bot/data/cards/), proposed in the console and approved by staff.

The shipped cards are reviewed data in the repository. Volunteers propose a change to one (its header,
plain answer, phrasings or tips) in the console; the edit is stored as `proposed` (bot/staff/approval.py)
and reaches villagers only once a staff member approves it; staff edits are live at once. An edit is
checked like a card file (every answer sentence ends with its citation, every cited article exists) before
it is stored. The bot uses the latest approved edit of each card in place of the shipped one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from bot.answers.cards import Card, CardsDataError, missing_articles, parse_card
from bot.records.models import Base
from bot.staff.approval import ACTIVE, PROPOSED, Approval, decide, initial_decision
from bot.staff.plain_text import strip_xml_illegal
from bot.staff.users import ConsoleUser

if TYPE_CHECKING:
    from knowledge.corpus import Corpus


class CardEditError(ValueError):
    """A card edit that cannot be stored: the message says what is wrong, in the card's own terms."""


class CardEdit(Approval, Base):
    __tablename__ = "card_edits"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[str] = mapped_column(String(64), index=True)
    topic: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)  # the card as proposed: JSON, as in a card file
    note: Mapped[str] = mapped_column(Text, default="")  # why, for the staff member who decides
    created_by_id: Mapped[int] = mapped_column(ForeignKey("console_users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]  # set on creation and on every decision: the matcher's change signal

    created_by: Mapped[ConsoleUser] = relationship(foreign_keys=[created_by_id], lazy="joined")
    decided_by: Mapped[ConsoleUser | None] = relationship(foreign_keys="CardEdit.decided_by_id", lazy="joined")

    @property
    def card(self) -> Card:
        """The edited card (checked when it was stored)."""
        return parse_card(json.loads(self.body), self.topic, f"card edit {self.id}")


def card_fields(card: Card) -> dict[str, Any]:
    """A card as the JSON object of a card file (what an edit stores)."""
    return {
        "id": card.id,
        "situation": card.situation,
        "examples": list(card.examples),
        "answer": card.answer,
        "articles": [f"{law} {number}" for law, number in card.articles],
        "tips": [{"tip": t.text, "law": t.law, "number": t.number} for t in card.tips],
        "contact": card.contact,
    } | ({"replaces": card.replaces} if card.replaces else {})


def propose_card_edit(
    session: Session,
    card: Card,
    *,
    situation: str,
    answer: str,
    examples: Sequence[str],
    tips: Sequence[tuple[str, str, int]],
    author: ConsoleUser,
    corpus: Corpus,
    note: str = "",
    now: datetime | None = None,
) -> CardEdit:
    """Store an edit of `card` (articles and contact unchanged): live at once when `author` is staff, else a
    proposal awaiting approval. CardEditError when the edited card would not pass `pufa build`."""
    fields = card_fields(card) | {
        "situation": strip_xml_illegal(situation).strip(),
        "answer": strip_xml_illegal(answer).strip(),
        "examples": [strip_xml_illegal(e).strip() for e in examples if e.strip()],
        "tips": [{"tip": strip_xml_illegal(text).strip(), "law": law, "number": n} for text, law, n in tips],
    }
    try:
        edited = parse_card(fields, card.topic, f"card {card.id}")
    except CardsDataError as exc:
        raise CardEditError(str(exc)) from exc
    missing = missing_articles(edited, corpus)
    if missing:
        raise CardEditError(f"card {card.id} cites articles not in the corpus: {', '.join(missing)}")
    at = now or datetime.now(UTC)
    edit = CardEdit(
        card_id=card.id,
        topic=card.topic,
        body=json.dumps(fields, ensure_ascii=False),
        note=strip_xml_illegal(note).strip(),
        created_by=author,
        created_at=at,
        updated_at=at,
        **initial_decision(author, at),
    )
    session.add(edit)
    session.commit()
    return edit


def decide_card_edit(
    session: Session, edit: CardEdit, decision: str, *, staff: ConsoleUser, now: datetime | None = None
) -> None:
    """Approve (the bot uses it from now on) or reject a proposed edit; ApprovalError unless staff."""
    at = now or datetime.now(UTC)
    decide(edit, decision, staff=staff, now=at)
    edit.updated_at = at
    session.commit()


def list_card_edits(session: Session, *, status: str = PROPOSED, card_id: str | None = None) -> list[CardEdit]:
    """Edits with this status (by default those waiting for staff), newest first."""
    query = select(CardEdit).where(CardEdit.status == status)
    if card_id is not None:
        query = query.where(CardEdit.card_id == card_id)
    return list(session.scalars(query.order_by(CardEdit.created_at.desc(), CardEdit.id.desc())))


def effective_cards(session: Session, shipped: Sequence[Card]) -> list[Card]:
    """The shipped cards, each replaced by its latest approved edit if it has one."""
    latest: dict[str, Card] = {}
    approved = select(CardEdit).where(CardEdit.status == ACTIVE).order_by(CardEdit.decided_at, CardEdit.id)
    for edit in session.scalars(approved):
        latest[edit.card_id] = edit.card
    return [latest.get(card.id, card) for card in shipped]


def edits_version(session: Session) -> tuple[int, datetime | None]:
    """Changes with any new edit or decision (each sets updated_at)."""
    count, newest = session.execute(select(func.count(CardEdit.id), func.max(CardEdit.updated_at))).one()
    return int(count), newest
