"""What every console page shares: settings, templates, the statute corpus, rendering and error pages."""

from __future__ import annotations

import threading
from datetime import datetime
from functools import cached_property
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from bot.answers.topics import CATEGORIES
from bot.settings import Settings
from bot.shared_state.base import TokenStore
from bot.staff.reviews import VERDICTS
from bot.staff.statistics import REPORT_TZ, outermost_divisions
from bot.wechat.customer_service import CustomerService
from knowledge.corpus import Corpus
from knowledge.law_names import short_law_name
from knowledge.numerals import to_chinese_numeral

PREFIX = "/console"
SESSION_COOKIE = "pufa_console"
CHANNEL_LABELS = {"wechat": "微信", "simulator": "模拟器", "cli": "命令行"}
RETRIEVER_LABELS = {"bm25": "关键词", "dense": "语义", "direct": "问题中直接引用"}
# Pages show personal questions: never cache them, never frame them, load nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class ConsoleError(Exception):
    """Shown to the user as an error page with this status and (Chinese) message."""

    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message
        super().__init__(f"{status}: {message}")


class LoginRequired(Exception):
    """No valid session: the user is sent to the log-in page, then back to `next_path`."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path
        super().__init__(next_path)


def local_time(at: datetime | None) -> str:
    return at.astimezone(REPORT_TZ).strftime("%Y-%m-%d %H:%M") if at else ""


def citation(law: str, number: int) -> str:
    """《民法典》第六百七十五条 from a stored hit's law and number."""
    return f"《{short_law_name(law)}》第{to_chinese_numeral(number)}条"


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot", "templates/console"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local_time"] = local_time
    env.filters["percent"] = lambda share: f"{share * 100:.0f}%"
    env.globals.update(
        citation=citation,
        verdicts=VERDICTS,
        categories=CATEGORIES,
        channels=CHANNEL_LABELS,
        retrievers=RETRIEVER_LABELS,
        prefix=PREFIX,
    )
    return Jinja2Templates(env=env)


class ConsoleContext:
    """Built once by `mount`; the corpus (for article text and 编 titles) is loaded on first use."""

    def __init__(self, settings: Settings, corpus: Corpus | None = None) -> None:
        self.settings = settings
        self.templates = _templates()
        # The workers' shared state, set by the app's lifespan before the first request: every worker then
        # sends with one access token (WeChat invalidates the old one soon after each renewal).
        self.tokens: TokenStore | None = None
        self._corpus = corpus
        self._lock = threading.Lock()

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies need HTTPS; development runs on plain http://127.0.0.1."""
        return not self.settings.is_development

    @property
    def corpus(self) -> Corpus:
        with self._lock:
            if self._corpus is None:
                from bot.search.pipeline import (
                    open_corpus,  # reads the statute database: only when a page needs it
                )

                self._corpus = open_corpus(self.settings)
            return self._corpus

    @cached_property
    def wechat(self) -> CustomerService | None:
        """The customer-service API client, or None when the account's AppID / AppSecret are not set."""
        settings = self.settings
        if not (settings.wechat_appid and settings.wechat_appsecret):
            return None
        return CustomerService(
            api_base=settings.wechat_api_base,
            appid=settings.wechat_appid,
            secret=settings.wechat_appsecret,
            tokens=self.tokens,
        )

    @cached_property
    def divisions(self) -> dict[str, str]:
        """Article.key → 编 (or 章), for the statistics by law and 编."""
        return outermost_divisions(self.corpus.articles)

    def render(self, request: Request, name: str, *, status: int = 200, **values: Any) -> Response:
        values.setdefault("login", None)
        values.setdefault("csrf_token", getattr(values["login"], "csrf_token", ""))
        values.update(township=self.settings.township, bot_name=self.settings.bot_name)
        return self.templates.TemplateResponse(
            request, name, values, status_code=status, headers=SECURITY_HEADERS
        )


def get_context(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context
