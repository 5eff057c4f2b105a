"""Log-in and log-out pages."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.console.context import PREFIX, SESSION_COOKIE, local_time
from bot.console.csrf import LOGIN_COOKIE, new_token
from bot.console.deps import Console, DbSession, Form, read_checked_form, safe_next, text_field
from bot.staff.auth import (
    LOCKOUT,
    SESSION_LIFETIME,
    LoginFailed,
    LoginLocked,
    authenticate,
    end_session,
    load_session,
    start_session,
)

router = APIRouter()
LOGIN_FORM_LIFETIME_S = 2 * 3600


def client_address(request: Request) -> str | None:
    """The client's address as uvicorn reports it: behind the proxy, the one the proxy put in
    X-Forwarded-For (uvicorn trusts that header from FORWARDED_ALLOW_IPS, by default 127.0.0.1)."""
    return request.client.host if request.client else None


def _login_page(
    request: Request, console: Console, *, next_path: str, error: str = "", status: int = 200
) -> Response:
    token = new_token()
    response = console.render(
        request, "login.html", status=status, csrf_token=token, next_path=next_path, error=error
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_LIFETIME_S,
        path=f"{PREFIX}/login",
        httponly=True,
        samesite="strict",
        secure=console.secure_cookies,
    )
    return response


@router.get("/login")
def login_form(request: Request, console: Console, db: DbSession, next: str = "") -> Response:
    if load_session(db, request.cookies.get(SESSION_COOKIE, "")) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, console, next_path=safe_next(next))


@router.post("/login")
async def login(request: Request, console: Console, db: DbSession) -> Response:
    form = await read_checked_form(request, request.cookies.get(LOGIN_COOKIE, ""))
    next_path = safe_next(text_field(form, "next"))
    username, password = text_field(form, "username"), text_field(form, "password")
    try:
        # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
        user = await run_in_threadpool(authenticate, db, username, password, address=client_address(request))
    except LoginLocked as locked:
        minutes = int(LOCKOUT.total_seconds() // 60)
        what = "从您所在网络的登录" if locked.by_address else "该账号"
        error = f"登录失败次数过多，{what}已暂时锁定{minutes}分钟，请在 {local_time(locked.until)} 之后再试。"
        return _login_page(request, console, next_path=next_path, error=error, status=429)
    except LoginFailed:
        return _login_page(request, console, next_path=next_path, error="用户名或密码不正确。", status=401)
    token = await run_in_threadpool(start_session, db, user)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=console.secure_cookies,
    )
    response.delete_cookie(LOGIN_COOKIE, path=f"{PREFIX}/login")
    return response


@router.post("/logout")
def logout(request: Request, console: Console, db: DbSession, form: Form) -> Response:
    end_session(db, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
