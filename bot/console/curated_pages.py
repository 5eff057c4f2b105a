"""Curated answers for staff: approve or reject volunteers' proposals, list, edit, retire and restore."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.console.articles import article_labels, chosen_articles
from bot.console.context import PREFIX, ConsoleError
from bot.console.deps import Console, DbSession, StaffForm, StaffLogin, plausible_id, text_field
from bot.staff.approval import PROPOSED, REJECTED, ApprovalError
from bot.staff.curated import (
    CuratedAnswer,
    CuratedError,
    decide_curated,
    list_curated,
    set_retired,
    update_curated,
)

router = APIRouter()


def _get(db: Session, curated_id: int) -> CuratedAnswer:
    item = db.get(CuratedAnswer, curated_id) if plausible_id(curated_id) else None
    if item is None:
        raise ConsoleError(404, f"没有编号为 {curated_id} 的精选答复。")
    return item


@router.get("/curated")
def curated_list(
    request: Request, console: Console, db: DbSession, login: StaffLogin, retired: bool = False
) -> Response:
    items = list_curated(db, include_retired=retired)
    proposals = list_curated(db, status=PROPOSED, include_retired=True)
    rejected = list_curated(db, status=REJECTED, include_retired=True) if retired else []
    labels = {
        item.id: article_labels(item.article_keys, console.corpus) for item in (*items, *proposals, *rejected)
    }
    return console.render(
        request,
        "curated.html",
        login=login,
        items=items,
        proposals=proposals,
        rejected=rejected,
        labels=labels,
        retired=retired,
    )


@router.get("/curated/{curated_id}")
def curated_edit(
    request: Request, console: Console, db: DbSession, login: StaffLogin, curated_id: int, saved: bool = False
) -> Response:
    item = _get(db, curated_id)
    return console.render(
        request,
        "curated_edit.html",
        login=login,
        item=item,
        saved=saved,
        labels=article_labels(item.article_keys, console.corpus),
    )


@router.post("/curated/{curated_id}")
def curated_update(
    console: Console, db: DbSession, login: StaffLogin, form: StaffForm, curated_id: int
) -> Response:
    item = _get(db, curated_id)
    keys = chosen_articles(form, console.corpus, offered=item.article_keys)
    try:
        update_curated(
            db,
            item,
            question=text_field(form, "question"),
            answer=text_field(form, "answer"),
            article_keys=keys,
            category=text_field(form, "category"),
            editor=login.user,
        )
    except CuratedError as exc:
        raise ConsoleError(400, f"未能保存：{exc}") from exc
    return RedirectResponse(f"{PREFIX}/curated/{item.id}?saved=1", status_code=303)


@router.post("/curated/{curated_id}/decision")
def curated_decide(db: DbSession, login: StaffLogin, form: StaffForm, curated_id: int) -> Response:
    """Approve (the bot uses it from now on) or reject a volunteer's proposal."""
    item = _get(db, curated_id)
    try:
        decide_curated(db, item, text_field(form, "decision"), staff=login.user)
    except ApprovalError as exc:
        raise ConsoleError(400, f"未能保存：{exc}") from exc
    return RedirectResponse(f"{PREFIX}/curated/{item.id}?saved=1", status_code=303)


@router.post("/curated/{curated_id}/retire")
def curated_retire(db: DbSession, login: StaffLogin, form: StaffForm, curated_id: int) -> Response:
    item = _get(db, curated_id)
    set_retired(db, item, retired=text_field(form, "retired") != "0", editor=login.user)
    return RedirectResponse(f"{PREFIX}/curated/{item.id}?saved=1", status_code=303)
