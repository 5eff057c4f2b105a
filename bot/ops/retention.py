"""Retention: what the activity record must not keep forever, erased by a periodic job and `pufa purge`.

- encrypted openids, once their 48 h follow-up window has passed (records.purge_expired_openids);
- question text older than PUFA_QUESTION_RETENTION_DAYS, when that is set (statistics keep the rest);
- the workers' shared turn claims and rate-limit windows (bot/shared_state/database.py), after an hour;
- the console's failed-login counts, a day after the last failure unless still locked (bot/staff/auth.py):
  the name typed may be someone's password.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from bot.records.followups import purge_expired_openids, utc_now
from bot.records.models import Consultation
from bot.shared_state.database import purge_shared_state
from bot.staff.auth import purge_login_failures

ERASED_QUESTION = ""  # the column stays NOT NULL; an empty question reads as "erased" in the console


@dataclass(frozen=True, slots=True)
class Purged:
    openids: int
    questions: int
    shared_state: int
    login_failures: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def erase_old_questions(session: Session, *, before: datetime) -> int:
    """Blank the question text of consultations stored before `before`; how many were erased."""
    stmt = (
        update(Consultation)
        .where(Consultation.created_at < before, Consultation.question != ERASED_QUESTION)
        .values(question=ERASED_QUESTION)
    )
    erased = cast("CursorResult[Any]", session.execute(stmt)).rowcount
    session.commit()
    return erased


def purge(session: Session, *, question_retention_days: int, now: datetime | None = None) -> Purged:
    """Run every retention rule once (idempotent: every worker may run it)."""
    at = utc_now(now)
    questions = 0
    if question_retention_days > 0:
        questions = erase_old_questions(session, before=at - timedelta(days=question_retention_days))
    return Purged(
        openids=purge_expired_openids(session, at),
        questions=questions,
        shared_state=purge_shared_state(session, now=at.timestamp() if now else time.time()),
        login_failures=purge_login_failures(session, now=at),
    )
