"""Situation cards in the console: everyone reads them and proposes edits; staff approve or reject."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.answers.cards import Card, cards, usable_cards
from bot.answers.topics import CATEGORIES
from bot.console.context import PREFIX, ConsoleError
from bot.console.deps import Console, DbSession, Form, Login, StaffForm, StaffLogin, plausible_id, text_field
from bot.staff.approval import ApprovalError
from bot.staff.card_edits import (
    CardEdit,
    CardEditError,
    decide_card_edit,
    effective_cards,
    list_card_edits,
    propose_card_edit,
)

router = APIRouter()
RULES = (
    "简明答案的每句话都要以所依据的条文结尾，如“……（《民法典》第一千零六十七条）。”，"
    "且只能引用这张卡片的条文；建议引用的条文要在法规库中。"
)
# One tip a line: 保留借条、转账记录｜民法典 675 (the bar may be half- or full-width).
_TIP_LINE = re.compile(r"^(?P<text>.+?)\s*[|｜]\s*(?P<law>[^\s\d|｜]+)\s*第?(?P<number>\d{1,4})条?\s*$")


def _card(db: Session, card_id: str) -> Card:
    found = next((card for card in effective_cards(db, cards()) if card.id == card_id), None)
    if found is None:
        raise ConsoleError(404, f"没有编号为 {card_id} 的情景卡片。")
    return found


def _tips(raw: str) -> list[tuple[str, str, int]]:
    tips = []
    for line in filter(None, (row.strip() for row in raw.splitlines())):
        m = _TIP_LINE.match(line)
        if m is None:
            raise ConsoleError(400, f"未能保存：建议“{line}”要写成“建议内容｜民法典 1067”。")
        tips.append((m["text"], m["law"], int(m["number"])))
    return tips


@router.get("/cards")
def card_list(request: Request, console: Console, db: DbSession, login: Login) -> Response:
    in_use = usable_cards(effective_cards(db, cards()), console.corpus)
    by_topic = {topic: [card for card in in_use if card.topic == topic] for topic in CATEGORIES}
    return console.render(
        request, "cards.html", login=login, by_topic=by_topic, proposals=list_card_edits(db), total=len(in_use)
    )


@router.get("/cards/{card_id}")
def card_edit(
    request: Request, console: Console, db: DbSession, login: Login, card_id: str, saved: bool = False
) -> Response:
    card = _card(db, card_id)
    articles = [(f"{law} {n}", a.short_citation if (a := console.corpus.get(law, n)) else f"{law} {n}")
                for law, n in card.articles]  # fmt: skip
    return console.render(
        request,
        "card_edit.html",
        login=login,
        card=card,
        articles=articles,
        proposals=list_card_edits(db, card_id=card_id),
        saved=saved,
    )


@router.post("/cards/{card_id}")
def card_propose(console: Console, db: DbSession, login: Login, form: Form, card_id: str) -> Response:
    """A volunteer's edit waits for staff; a staff member's is live at once."""
    card = _card(db, card_id)
    try:
        propose_card_edit(
            db,
            card,
            situation=text_field(form, "situation"),
            answer=text_field(form, "answer"),
            examples=text_field(form, "examples").splitlines(),
            tips=_tips(text_field(form, "tips")),
            note=text_field(form, "note"),
            author=login.user,
            corpus=console.corpus,
        )
    except CardEditError as exc:
        raise ConsoleError(400, f"未能保存：{RULES}详情：{exc}") from exc
    return RedirectResponse(f"{PREFIX}/cards/{card.id}?saved=1", status_code=303)


@router.post("/cards/edits/{edit_id}/decision")
def card_decide(db: DbSession, login: StaffLogin, form: StaffForm, edit_id: int) -> Response:
    """Approve (villagers get the edited card from now on) or reject a proposed edit."""
    edit = db.get(CardEdit, edit_id) if plausible_id(edit_id) else None
    if edit is None:
        raise ConsoleError(404, f"没有编号为 {edit_id} 的卡片修改。")
    try:
        decide_card_edit(db, edit, text_field(form, "decision"), staff=login.user)
    except ApprovalError as exc:
        raise ConsoleError(400, f"未能保存：{exc}") from exc
    return RedirectResponse(f"{PREFIX}/cards/{edit.card_id}?saved=1", status_code=303)
