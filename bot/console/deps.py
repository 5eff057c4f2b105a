"""FastAPI dependencies of the console: who is logged in, whether they may do this, and checked forms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import FormData

from bot.console.context import SESSION_COOKIE, ConsoleContext, ConsoleError, LoginRequired, get_context
from bot.console.csrf import FIELD, CsrfRejected, check_origin, check_token
from bot.staff.auth import ConsoleSession, load_session


def get_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: one session per request, from `app.state.session_factory`."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


Console = Annotated[ConsoleContext, Depends(get_context)]

# Row ids are INTEGER columns: PostgreSQL refuses a larger number, so a typed-in one would be a 500.
MAX_ROW_ID = 2**31 - 1
FORBIDDEN = "您的账号没有这项权限。统计、导出、精选答复和用户管理只对工作人员开放。"
STALE_FORM = "表单已失效（可能是页面停留太久或来自其他网站）。请返回，刷新页面后再提交。"


def _here(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{request.url.path}{query}"


def current_login(request: Request, db: DbSession) -> ConsoleSession:
    row = load_session(db, request.cookies.get(SESSION_COOKIE, ""))
    if row is None:
        raise LoginRequired(_here(request) if request.method == "GET" else "")
    return row


Login = Annotated[ConsoleSession, Depends(current_login)]


def staff_login(login: Login) -> ConsoleSession:
    if not login.user.is_staff:
        raise ConsoleError(403, FORBIDDEN)
    return login


StaffLogin = Annotated[ConsoleSession, Depends(staff_login)]


async def read_checked_form(request: Request, expected_token: str) -> FormData:
    """The posted form, once the request proved it came from a console page."""
    try:
        check_origin(request)
        form = await request.form()
        check_token(expected_token, form.get(FIELD))
    except CsrfRejected as exc:
        raise ConsoleError(403, STALE_FORM) from exc
    return form


async def checked_form(request: Request, login: Login) -> FormData:
    return await read_checked_form(request, login.csrf_token)


async def staff_form(request: Request, login: StaffLogin) -> FormData:
    return await read_checked_form(request, login.csrf_token)


Form = Annotated[FormData, Depends(checked_form)]
StaffForm = Annotated[FormData, Depends(staff_form)]


def plausible_id(value: int) -> bool:
    """Whether `value` could be a row id at all (a path id beyond this gets a 404 without a query)."""
    return 0 < value <= MAX_ROW_ID


def text_field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def safe_next(path: str | None) -> str:
    """Only paths inside the console: a `next` pointing elsewhere would make login an open redirect."""
    if path and path.startswith("/console/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/console/queue"
