"""A user's recent consultations: "更多", the villager's 1/2 verdict, the per-user rate limit, and the openid's
48 h follow-up window.

WeChat lets an official account message a user only within 48 h of the user's last message; the encrypted
openid is kept that long for a volunteer's follow-up reply, then `purge_expired_openids` erases it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from bot.records.models import Consultation
from bot.records.privacy import decrypt_openid, pseudonymize

FOLLOWUP_WINDOW_H = 48
VERDICT_WINDOW_MIN = 30  # a 1 or 2 this long after an answer is the villager's verdict on it
SATISFACTION = {1: "满意", 2: "不满意"}


def utc_now(now: datetime | None = None) -> datetime:
    """`now` if given (tests pin the clock), else the current UTC time."""
    return now if now is not None else datetime.now(UTC)


def last_consultation_for_user(
    session: Session,
    *,
    openid: str,
    secret_key: str,
    within_hours: int = FOLLOWUP_WINDOW_H,
    now: datetime | None = None,
) -> Consultation | None:
    """The user's newest consultation of the last `within_hours`, or None."""
    user_ref = pseudonymize(openid, secret_key=secret_key)
    return last_consultation_for_ref(session, user_ref, since=utc_now(now) - timedelta(hours=within_hours))


def last_consultation_for_ref(session: Session, user_ref: str, *, since: datetime) -> Consultation | None:
    """The newest consultation of this pseudonym stored at or after `since`, or None."""
    stmt = (
        select(Consultation)
        .where(Consultation.user_ref == user_ref, Consultation.created_at >= since)
        .order_by(Consultation.created_at.desc(), Consultation.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def take_more(
    session: Session,
    *,
    openid: str,
    secret_key: str,
    n: int = 3,
    within_hours: int = FOLLOWUP_WINDOW_H,
    now: datetime | None = None,
) -> tuple[str, ...]:
    """The next `n` held-back article keys of the user's last consultation, removed from it; () if none."""
    row = last_consultation_for_user(
        session, openid=openid, secret_key=secret_key, within_hours=within_hours, now=now
    )
    if row is None or not row.more:
        return ()
    taken, row.more = (
        tuple(row.more[:n]),
        list(row.more[n:]),
    )  # a new list: JSON columns track assignment only
    session.commit()
    return taken


def record_satisfaction(
    session: Session,
    *,
    openid: str,
    secret_key: str,
    satisfaction: int,
    within_minutes: int = VERDICT_WINDOW_MIN,
    now: datetime | None = None,
) -> int | None:
    """Store a 1 (满意) or 2 (不满意) on the user's last consultation, if it came within `within_minutes`
    and its reply asked for the verdict; its id, or None (then the 1 or 2 is an ordinary message).

    A later 1 or 2 on the same consultation replaces the earlier one: the villager changed their mind.
    """
    if satisfaction not in SATISFACTION:
        raise ValueError(f"satisfaction must be one of {sorted(SATISFACTION)}; got {satisfaction!r}")
    at = utc_now(now)
    user_ref = pseudonymize(openid, secret_key=secret_key)
    row = last_consultation_for_ref(session, user_ref, since=at - timedelta(minutes=within_minutes))
    if row is None or not row.satisfaction_asked:
        return None
    row.satisfaction, row.satisfaction_at = satisfaction, at
    session.commit()
    return row.id


def recent_message_count(session: Session, *, user_ref: str, since: datetime) -> int:
    """Consultations stored for this pseudonym since `since` (for a per-user rate limit)."""
    stmt = select(func.count()).where(Consultation.user_ref == user_ref, Consultation.created_at >= since)
    return session.scalar(stmt) or 0


def followup_openid(
    session: Session, consultation_id: int, *, secret_key: str, now: datetime | None = None
) -> str | None:
    """The openid to send a follow-up reply to while the window lasts; None once expired or purged."""
    row = session.get(Consultation, consultation_id)
    if row is None or row.openid_enc is None or row.user_ref is None or row.openid_expires_at is None:
        return None
    if row.openid_expires_at <= utc_now(now):
        return None
    return decrypt_openid(row.openid_enc, secret_key=secret_key, user_ref=row.user_ref)


def purge_expired_openids(session: Session, now: datetime) -> int:
    """Erase the encrypted openids whose follow-up window has passed; returns how many were erased."""
    stmt = (
        update(Consultation)
        .where(Consultation.openid_expires_at <= now)
        .values(openid_enc=None, openid_expires_at=None)
    )
    erased = cast("CursorResult[Any]", session.execute(stmt)).rowcount
    session.commit()
    return erased
