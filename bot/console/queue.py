"""The review queue and one consultation's page, where a volunteer records a verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.answers.topics import CATEGORIES
from bot.console.articles import chosen_articles
from bot.console.context import PREFIX, ConsoleError
from bot.console.deps import Console, DbSession, Form, Login, plausible_id, text_field
from bot.records.models import Consultation
from bot.staff.curated import CuratedError, create_curated, curated_for_consultation
from bot.staff.reviews import (
    QueueFilter,
    ReviewError,
    get_consultation,
    record_review,
    review_history,
    review_queue,
)
from bot.staff.statistics import FIRST_DAY, LAST_DAY, PeriodError, check_day, day_start
from bot.staff.volunteer_replies import can_follow_up, replies_for

router = APIRouter()
PAGE_SIZE = 20
MAX_PAGE = 100_000  # two million consultations: far beyond a township's; larger offsets overflow SQLite


@dataclass(frozen=True, slots=True)
class QueueParams:
    """The queue's filter form, as typed (so the page can show it again)."""

    unreviewed: bool = False
    low: bool = False
    person: bool = False
    category: str = ""
    start: str = ""  # YYYY-MM-DD, local
    end: str = ""

    def to_filter(self) -> QueueFilter:
        first, last = _day(self.start), _day(self.end)
        return QueueFilter(
            unreviewed=self.unreviewed,
            low_confidence=self.low,
            asked_for_person=self.person,
            category=self.category if self.category in CATEGORIES else None,
            start=day_start(first) if first else None,
            end=day_start(last + timedelta(days=1)) if last else None,
        )

    def query(self, page: int) -> str:
        """The query string of this filter on another page."""
        values = {k: ("1" if v is True else v) for k, v in asdict(self).items() if v}
        return urlencode({**values, "page": page})


def consultation_or_404(db: Session, consultation_id: int) -> Consultation:
    row = get_consultation(db, consultation_id) if plausible_id(consultation_id) else None
    if row is None:
        raise ConsoleError(404, f"没有编号为 {consultation_id} 的咨询记录。")
    return row


def _day(text: str) -> date | None:
    try:
        return check_day(date.fromisoformat(text)) if text else None
    except (ValueError, PeriodError):
        raise ConsoleError(
            400, f"日期应为 {FIRST_DAY} 至 {LAST_DAY} 之间、形如 2026-03-01 的日期，收到的是 “{text}”。"
        ) from None


@router.get("/queue")
def queue(
    request: Request,
    console: Console,
    db: DbSession,
    login: Login,
    unreviewed: bool = False,
    low: bool = False,
    person: bool = False,
    category: str = "",
    start: str = "",
    end: str = "",
    page: int = 1,
) -> Response:
    params = QueueParams(unreviewed, low, person, category, start, end)
    if not 1 <= page <= MAX_PAGE:
        raise ConsoleError(400, f"页码应在 1 到 {MAX_PAGE} 之间，收到的是 {page}。")
    items, total = review_queue(db, params.to_filter(), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return console.render(
        request, "queue.html", login=login, items=items, total=total, params=params, page=page, pages=pages
    )


@router.get("/consultations/{consultation_id}")
def consultation(
    request: Request,
    console: Console,
    db: DbSession,
    login: Login,
    consultation_id: int,
    saved: bool = False,
    sent: bool = False,
) -> Response:
    row = consultation_or_404(db, consultation_id)
    articles = {hit.article_key: console.corpus.get(hit.law, hit.number) for hit in row.hits}
    return console.render(
        request,
        "consultation.html",
        login=login,
        item=row,
        articles=articles,
        history=review_history(db, row.id),
        curated=curated_for_consultation(db, row.id),
        replies=replies_for(db, row.id),
        saved=saved,
        sent=sent,
        can_reply=console.wechat is not None and can_follow_up(row),
    )


@router.post("/consultations/{consultation_id}/review")
def review(console: Console, db: DbSession, login: Login, form: Form, consultation_id: int) -> Response:
    row = consultation_or_404(db, consultation_id)
    corrected = text_field(form, "corrected_answer")
    # Categories feed the statistics: only staff may change them.
    category = text_field(form, "category") if login.user.is_staff else None
    curate = bool(text_field(form, "curate") and corrected.strip())
    # Checked before anything is stored, so a mistyped citation loses nothing.
    keys = (
        chosen_articles(form, console.corpus, offered=[h.article_key for h in row.hits] + row.cited)
        if curate
        else []
    )
    try:
        record_review(
            db,
            row,
            reviewer=login.user,
            verdict=text_field(form, "verdict"),
            corrected_answer=corrected,
            note=text_field(form, "note"),
            category=category or None,
        )
        if curate:
            create_curated(
                db,
                question=row.question,
                answer=corrected,
                article_keys=keys,
                category=row.category,
                author=login.user,
                source_consultation_id=row.id,
            )
    except (ReviewError, CuratedError) as exc:
        raise ConsoleError(400, f"未能保存：{exc}") from exc
    return RedirectResponse(f"{PREFIX}/consultations/{row.id}?saved=1", status_code=303)
