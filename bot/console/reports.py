"""Staff pages: statistics with charts, the annual-report paragraph, and the CSV / XLSX downloads.

Every number here comes from bot.staff.statistics and every file from bot.staff.exports, as for `pufa export` and
`pufa report`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from bot.console.articles import article_labels
from bot.console.charts import columns, horizontal_bars
from bot.console.context import SECURITY_HEADERS, ConsoleContext, ConsoleError
from bot.console.deps import Console, DbSession, StaffLogin
from bot.staff import statistics as st
from bot.staff.exports import ExportError, export_bytes, export_filename
from bot.staff.sheets import report_paragraph

router = APIRouter()
MAX_PERIOD_DAYS = 3660  # ten years: longer ones are no report, and cost seconds of CPU per request
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def requested_period(start: str, end: str) -> st.Period:
    """The period typed in the form; by default this year up to today."""
    today = datetime.now(st.REPORT_TZ).date()
    try:
        period = st.Period.parse(start, end, default=st.Period(date(today.year, 1, 1), today))
    except st.PeriodError as exc:
        raise ConsoleError(
            400,
            f"日期范围无效：日期应形如 2026-03-01，在 {st.FIRST_DAY} 至 {st.LAST_DAY} 之间，"
            f"且结束日期不早于开始日期（{exc}）",
        ) from exc
    if (period.last - period.first).days >= MAX_PERIOD_DAYS:
        raise ConsoleError(400, "日期范围太长：一次最多统计或导出十年，请缩短日期范围。")
    return period


def statistics_view(db: Session, period: st.Period, console: ConsoleContext) -> dict[str, Any]:
    """Everything the statistics page shows for one period."""
    summary = st.summary(db, period)
    by_day = len(period.days) <= st.MAX_DAYS_SHOWN
    one_year = period.first.year == period.last.year
    series = (
        [(f"{d.month}/{d.day}", n) for d, n in st.per_day(db, period)]
        if by_day
        else [(f"{int(m[5:])}月" if one_year else m[2:], n) for m, n in st.per_month(db, period)]
    )
    settings = console.settings
    cited = st.top_cited(db, period)
    keys = [key for key, _ in cited]
    return {
        "period": period,
        "summary": summary,
        "months": st.per_month(db, period),
        "series_chart": columns(series, title="每日咨询人次" if by_day else "每月咨询人次"),
        "category_chart": horizontal_bars(list(summary.by_category.items()), title="按类别"),
        "divisions": st.by_law_division(db, period, division_of=console.divisions.get),
        "top_cited": [
            (label, n) for (_, label), (_, n) in zip(article_labels(keys, console.corpus), cited, strict=True)
        ],
        "paragraph": report_paragraph(
            summary, period=period, township=settings.township, bot_name=settings.bot_name
        ),
    }


@router.get("/stats")
def stats_page(
    request: Request, console: Console, db: DbSession, login: StaffLogin, start: str = "", end: str = ""
) -> Response:
    period = requested_period(start, end)
    return console.render(request, "stats.html", login=login, **statistics_view(db, period, console))


@router.get("/export")
def export(
    db: DbSession,
    login: StaffLogin,
    kind: str = "records",
    format: str = "xlsx",
    start: str = "",
    end: str = "",
) -> Response:
    period = requested_period(start, end)
    try:
        content = export_bytes(db, period, kind=kind, fmt=format)
    except ExportError as exc:
        raise ConsoleError(400, f"不支持的导出：{exc}") from exc
    name = export_filename(period, kind=kind, fmt=format)
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(content, media_type=MEDIA_TYPES[format], headers=headers)
