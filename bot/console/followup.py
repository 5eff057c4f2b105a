"""Sending a follow-up reply to the villager from a consultation's page (WeChat customer-service message)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from bot.console.context import PREFIX, ConsoleError
from bot.console.deps import Console, DbSession, Form, Login, text_field
from bot.console.queue import consultation_or_404
from bot.staff.volunteer_replies import FollowupError, send_followup

router = APIRouter()


@router.post("/consultations/{consultation_id}/followup")
def follow_up(console: Console, db: DbSession, login: Login, form: Form, consultation_id: int) -> Response:
    row = consultation_or_404(db, consultation_id)
    if console.wechat is None:
        raise ConsoleError(400, "没有配置公众号的 AppID 和 AppSecret，不能通过微信回复。")
    try:
        send_followup(
            db,
            row,
            sender=login.user,
            text=text_field(form, "text"),
            wechat=console.wechat,
            secret_key=console.settings.secret_key,
        )
    except FollowupError as exc:
        raise ConsoleError(400, str(exc)) from exc
    return RedirectResponse(f"{PREFIX}/consultations/{row.id}?sent=1", status_code=303)
