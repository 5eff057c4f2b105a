"""Counts for staff reports (法治政府建设年度报告, 普法 campaign summaries): `pufa stats --json` prints these.

Periods are half-open, [start, end), on the time each record was stored (UTC).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Executable, func, select
from sqlalchemy.orm import Session

from bot.records.models import Consultation, Event

_FLAGS = ("no_hit", "emergency", "asked_for_person", "fallback")
# The villager's verdicts (bot/records/followups.py): asked for, given, and given as 1 (满意).
_SATISFACTION: dict[str, ColumnElement[bool]] = {
    "asked": Consultation.satisfaction_asked.is_(True),
    "answered": Consultation.satisfaction.is_not(None),
    "satisfied": Consultation.satisfaction == 1,
}


def _period(created_at: Any, *, start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if start is not None:
        conditions.append(created_at >= start)
    if end is not None:
        conditions.append(created_at < end)
    return conditions


def _grouped(session: Session, stmt: Executable) -> dict[str, int]:
    """{group: count} from (group, count) rows, largest first (ties by name), as a report lists them."""
    counts = {str(name): int(count) for name, count in session.execute(stmt)}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def consultation_stats(
    session: Session,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    township: str | None = None,
) -> dict[str, Any]:
    """Consultations, distinct users, per-category and per-channel counts, flags, reviews and events.

    JSON-ready: {"consultations", "users", "by_category", "by_channel", "no_hit", "emergency",
    "asked_for_person", "fallback", "reviewed", "satisfaction": {"asked", "answered", "satisfied"},
    "events": {kind: n}, "event_keys": {key: n}}. `satisfaction`: replies that asked 回复1满意，2不满意, those
    the villager answered, and those answered 1.
    """
    where = _period(Consultation.created_at, start=start, end=end)
    if township is not None:
        where.append(Consultation.township == township)
    totals = select(
        func.count(Consultation.id),
        func.count(func.distinct(Consultation.user_ref)),
        func.count(Consultation.id).filter(Consultation.review_status != "unreviewed"),
        *(func.count(Consultation.id).filter(getattr(Consultation, flag).is_(True)) for flag in _FLAGS),
        *(func.count(Consultation.id).filter(condition) for condition in _SATISFACTION.values()),
    ).where(*where)
    consultations, users, reviewed, *counts = session.execute(totals).one()
    flags, verdicts = counts[: len(_FLAGS)], counts[len(_FLAGS) :]
    return {
        "consultations": consultations,
        "users": users,
        "by_category": _grouped(
            session, select(Consultation.category, func.count()).where(*where).group_by(Consultation.category)
        ),
        "by_channel": _grouped(
            session, select(Consultation.channel, func.count()).where(*where).group_by(Consultation.channel)
        ),
        **dict(zip(_FLAGS, flags, strict=True)),
        "reviewed": reviewed,
        "satisfaction": dict(zip(_SATISFACTION, verdicts, strict=True)),
        **_event_counts(session, start=start, end=end, township=township),
    }


def _event_counts(
    session: Session, *, start: datetime | None, end: datetime | None, township: str | None
) -> dict[str, dict[str, int]]:
    where = _period(Event.created_at, start=start, end=end)
    if township is not None:
        where.append(Event.township == township)
    return {
        "events": _grouped(session, select(Event.kind, func.count()).where(*where).group_by(Event.kind)),
        "event_keys": _grouped(
            session, select(Event.key, func.count()).where(Event.key.is_not(None), *where).group_by(Event.key)
        ),
    }
