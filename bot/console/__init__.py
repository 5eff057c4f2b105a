"""The volunteer review and staff statistics console at /console: server-rendered pages, no script.

`mount(app, settings)` adds the routes, the static files and the console's error pages to an app.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from bot.console import account, admin, card_pages, curated_pages, followup, login, queue, reports
from bot.console.context import PREFIX, ConsoleContext, ConsoleError, LoginRequired, get_context
from bot.settings import Settings
from knowledge.corpus import Corpus

router = APIRouter(prefix=PREFIX, include_in_schema=False)
for _module in (login, queue, followup, reports, admin, curated_pages, card_pages, account):
    router.include_router(_module.router)


@router.get("")
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/queue", status_code=303)


def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = f"{PREFIX}/login"
    if exc.next_path:
        target += f"?next={quote(exc.next_path, safe='/')}"
    return RedirectResponse(target, status_code=303)


def _console_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleError)
    return get_context(request).render(request, "error.html", status=exc.status, message=exc.message)


BAD_PARAMETER = "网址中的参数格式不对：编号和页码应是数字，日期应形如 2026-03-01。请返回上一页重新操作。"


async def _bad_parameter(request: Request, exc: Exception) -> Response:
    """A console page gets its error page for a malformed id or page number (FastAPI's 422 JSON elsewhere)."""
    assert isinstance(exc, RequestValidationError)
    if request.url.path == PREFIX or request.url.path.startswith(f"{PREFIX}/"):
        return get_context(request).render(request, "error.html", status=400, message=BAD_PARAMETER)
    return await request_validation_exception_handler(request, exc)


def mount(app: FastAPI, settings: Settings, *, corpus: Corpus | None = None) -> None:
    """Serve the console from `app` (its lifespan must set app.state.session_factory, as create_app does)."""
    app.state.console = ConsoleContext(settings, corpus)
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(packages=[("bot", "static")]), name="console-static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(ConsoleError, _console_error)
    app.add_exception_handler(RequestValidationError, _bad_parameter)
