"""Statistics for staff: the one set of query functions behind the console page, the exports and the report.

Totals come from `bot.staff.counts.consultation_stats` (what `pufa stats --json` prints); this module adds the
time series, the law/编 breakdown, the most-cited articles and the review shares on the same periods.
Days and months are counted in China Standard Time: a question sent at 07:30 on 1 March (23:30 UTC the
day before) belongs to 1 March.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.records.models import Consultation, ConsultationHit
from bot.staff.counts import consultation_stats
from knowledge.articles import Article
from knowledge.law_names import short_law_name

REPORT_TZ = ZoneInfo("Asia/Shanghai")  # the whole of China keeps one clock
MAX_DAYS_SHOWN = 92  # longer periods are charted by month
# Dates a report can cover. Outside these, local midnight would not fit a datetime (0001-01-01 in UTC is
# in year 0), and nothing was recorded anyway.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


class PeriodError(ValueError):
    """A date range that cannot be used; the message shows the accepted form."""


@dataclass(frozen=True, slots=True)
class Period:
    """Local calendar days from `first` to `last`, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        check_day(self.first)
        check_day(self.last)
        if self.last < self.first:
            raise PeriodError(
                f"the range ends ({self.last}) before it starts ({self.first}); swap the dates."
            )

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(date(year, 1, 1), date(year, 12, 31))

    @classmethod
    def parse(cls, first: str | None, last: str | None, *, default: Period) -> Period:
        """From two ISO dates (YYYY-MM-DD) typed in a form or on the command line; blanks take `default`."""
        try:
            start = date.fromisoformat(first) if first else default.first
            end = date.fromisoformat(last) if last else default.last
        except ValueError as exc:
            raise PeriodError(f"dates must look like 2026-03-01; got {first!r} and {last!r}.") from exc
        return cls(start, end)

    @property
    def start(self) -> datetime:
        """The first instant of the period, as an aware UTC datetime."""
        return day_start(self.first)

    @property
    def end(self) -> datetime:
        """The first instant after the period (exclusive bound), as an aware UTC datetime."""
        return day_start(self.last + timedelta(days=1))

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def months(self) -> list[str]:
        return list(dict.fromkeys(month_of(day) for day in self.days))

    @property
    def label(self) -> str:
        """2026年 for a calendar year, else 2026年3月1日至2026年3月31日."""
        if self.first == date(self.first.year, 1, 1) and self.last == date(self.first.year, 12, 31):
            return f"{self.first.year}年"
        return f"{_cn_date(self.first)}至{_cn_date(self.last)}"


def check_day(day: date) -> date:
    """`day`, or PeriodError when it lies outside FIRST_DAY..LAST_DAY."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise PeriodError(f"{day} is outside the dates pufa reports on ({FIRST_DAY} to {LAST_DAY}).")
    return day


def _cn_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def day_start(day: date) -> datetime:
    """Local midnight at the start of `day`, in UTC."""
    return datetime.combine(day, time(), REPORT_TZ).astimezone(UTC)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def local_day(at: datetime) -> date:
    return at.astimezone(REPORT_TZ).date()


@dataclass(frozen=True, slots=True)
class Summary:
    """The headline numbers of a period (the report paragraph and the page's first row)."""

    consultations: int
    users: int
    by_category: dict[str, int]
    asked_for_person: int
    emergency: int
    no_hit: int
    reviewed: int
    judged_correct: int
    # The villagers' own verdicts (回复1满意，2不满意): asked for, given, given as 满意.
    satisfaction_asked: int = 0
    satisfaction_answered: int = 0
    satisfied: int = 0

    @property
    def share_reviewed(self) -> float:
        return self.reviewed / self.consultations if self.consultations else 0.0

    @property
    def share_correct(self) -> float:
        """Of the reviewed answers, the share a volunteer judged correct."""
        return self.judged_correct / self.reviewed if self.reviewed else 0.0

    @property
    def share_satisfied(self) -> float:
        """满意率: of the verdicts villagers gave, the share that said 1 (满意)."""
        return self.satisfied / self.satisfaction_answered if self.satisfaction_answered else 0.0


def _in(period: Period) -> list[Any]:
    return [Consultation.created_at >= period.start, Consultation.created_at < period.end]


def summary(session: Session, period: Period) -> Summary:
    totals = consultation_stats(session, start=period.start, end=period.end)
    correct = (
        session.scalar(
            select(func.count(Consultation.id)).where(*_in(period), Consultation.verdict == "correct")
        )
        or 0
    )
    return Summary(
        consultations=totals["consultations"],
        users=totals["users"],
        by_category=totals["by_category"],
        asked_for_person=totals["asked_for_person"],
        emergency=totals["emergency"],
        no_hit=totals["no_hit"],
        reviewed=totals["reviewed"],
        judged_correct=correct,
        satisfaction_asked=totals["satisfaction"]["asked"],
        satisfaction_answered=totals["satisfaction"]["answered"],
        satisfied=totals["satisfaction"]["satisfied"],
    )


def _created_and_category(session: Session, period: Period) -> list[tuple[datetime, str]]:
    stmt = select(Consultation.created_at, Consultation.category).where(*_in(period))
    return [(at, category) for at, category in session.execute(stmt)]


def per_day(session: Session, period: Period) -> list[tuple[date, int]]:
    """Consultations on each day of the period, days without any included (as 0)."""
    counts = Counter(local_day(at) for at, _ in _created_and_category(session, period))
    return [(day, counts[day]) for day in period.days]


def per_month(session: Session, period: Period) -> list[tuple[str, int]]:
    counts = Counter(month_of(local_day(at)) for at, _ in _created_and_category(session, period))
    return [(month, counts[month]) for month in period.months]


def month_by_category(session: Session, period: Period) -> dict[str, Counter[str]]:
    """{"2026-03": Counter({category: n})} for every month of the period (empty months included)."""
    table: dict[str, Counter[str]] = {month: Counter() for month in period.months}
    for at, category in _created_and_category(session, period):
        table[month_of(local_day(at))][category] += 1
    return table


DivisionOf = Callable[[str], str | None]  # Article.key → its 编 (or 章 for laws without 编)


def by_law_division(
    session: Session, period: Period, *, division_of: DivisionOf
) -> list[tuple[str, str, int]]:
    """(law, 编, consultations) from each consultation's best-ranked article, largest first."""
    stmt = (
        select(ConsultationHit.article_key, ConsultationHit.law)
        .join(Consultation)
        .where(*_in(period), ConsultationHit.rank == 1)
    )
    counts = Counter((short_law_name(law), division_of(key) or "—") for key, law in session.execute(stmt))
    return [(law, division, n) for (law, division), n in _largest_first(counts)]


def top_cited(session: Session, period: Period, *, limit: int = 10) -> list[tuple[str, int]]:
    """Article keys quoted in replies, most often first."""
    counts: Counter[str] = Counter()
    for cited in session.scalars(select(Consultation.cited).where(*_in(period))):
        counts.update(cited or [])
    return _largest_first(counts)[:limit]


def _largest_first(counts: Counter[Any]) -> list[tuple[Any, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))


def outermost_divisions(articles: Iterable[Article]) -> dict[str, str]:
    """Article.key → its outermost title (the 编 of 民法典, the 章 of laws without 编), from a corpus."""
    return {article.key: article.path[0] for article in articles if article.path}


def consultations_in(session: Session, period: Period) -> list[Consultation]:
    """Every consultation of the period, oldest first (for the record exports)."""
    stmt = select(Consultation).where(*_in(period)).order_by(Consultation.created_at, Consultation.id)
    return list(session.scalars(stmt))
