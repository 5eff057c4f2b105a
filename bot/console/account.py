"""One's own account: anyone logged in (volunteers too) changes their password here.

The current password is asked again, so a session left open on a shared PC cannot take the account over;
the change logs the user out everywhere else.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.console.context import PREFIX, ConsoleError
from bot.console.deps import Console, DbSession, Form, Login, text_field
from bot.staff.auth import end_user_sessions
from bot.staff.users import UserError, password_matches, update_user

router = APIRouter()


@router.get("/account")
def account_page(request: Request, console: Console, login: Login, saved: bool = False) -> Response:
    return console.render(request, "account.html", login=login, saved=saved)


@router.post("/account/password")
async def change_own_password(db: DbSession, login: Login, form: Form) -> Response:
    current, new = text_field(form, "current_password"), text_field(form, "new_password")
    # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    if not await run_in_threadpool(password_matches, login.user, current):
        raise ConsoleError(400, "当前密码不正确，密码没有修改。")
    if not new or new != text_field(form, "repeat_password"):
        raise ConsoleError(400, "新密码为空，或两次输入的新密码不一致，密码没有修改。")
    try:
        await run_in_threadpool(update_user, db, login.user, password=new)
    except UserError as exc:
        raise ConsoleError(400, f"未能修改密码：{exc}") from exc
    end_user_sessions(db, login.user, keep=login)
    return RedirectResponse(f"{PREFIX}/account?saved=1", status_code=303)
