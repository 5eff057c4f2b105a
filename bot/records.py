"""Activity records: storing consultations and events, idempotently, before the reply is returned.

Every function here commits, so call them with a session that holds no other pending work. The models
live in bot/models.py; a user's recent consultations (更多, rate limit, openid window) in bot/followups.py,
re-exported here for the webhook.

"更多" and "人工" turns are not consultations of their own: `take_more` advances the user's last
consultation and `flag_person_request` flags it, so the statistics count questions, not turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.followups import (
    FOLLOWUP_WINDOW_H,
    followup_openid,
    last_consultation_for_ref,
    last_consultation_for_user,
    purge_expired_openids,
    recent_message_count,
    take_more,
    utc_now,
)
from bot.models import CHANNELS, Consultation, ConsultationHit, Event
from bot.privacy import encrypt_openid, mask_pii, pseudonymize

if TYPE_CHECKING:
    from bot.answer import Answer
    from indexing.retrieval import Hit

__all__ = [
    "ConsultationIn",
    "RecordError",
    "apply_person_request",
    "build_consultation",
    "build_event",
    "build_person_request",
    "flag_person_request",
    "followup_openid",
    "last_consultation_for_user",
    "purge_expired_openids",
    "recent_message_count",
    "record_consultation",
    "record_event",
    "reply_for_msg_id",
    "store_consultation",
    "store_event",
    "take_more",
]

PERSON_REQUEST_CATEGORY = "调解程序"


class RecordError(ValueError):
    """A consultation that cannot be stored as given; the message names the bad field."""


@dataclass(frozen=True, slots=True)
class ConsultationIn:
    """Everything the webhook knows about one consultation, before it is stored."""

    channel: str  # "wechat" | "simulator" | "cli"
    msg_id: str | None  # WeChat MsgId; None for channels without one
    openid: str | None  # raw openid: pseudonymised + encrypted by records, never stored in clear
    question: str  # raw text: masked (phone, ID card) by records before storing
    hits: Sequence[Hit]
    answer: Answer
    reply_text: str  # exactly what was sent (may be a fallback instead of answer.text)
    latency_ms: float
    asked_for_person: bool = False
    fallback: bool = False  # retrieval failed or was too slow


def _new_consultation(
    *, channel: str, township: str, msg_id: str | None, question: str, at: datetime
) -> Consultation:
    if channel not in CHANNELS:
        raise RecordError(f"channel {channel!r} is unknown; use one of {', '.join(CHANNELS)}.")
    return Consultation(
        created_at=at, channel=channel, township=township, msg_id=msg_id, question=mask_pii(question)
    )


def _keep_openid(row: Consultation, openid: str, *, secret_key: str, until: datetime) -> None:
    """Attach the user's pseudonym, and the openid itself encrypted until the follow-up window ends."""
    row.user_ref = pseudonymize(openid, secret_key=secret_key)
    row.openid_enc = encrypt_openid(openid, secret_key=secret_key, user_ref=row.user_ref)
    row.openid_expires_at = until


def _hit_rows(hits: Sequence[Hit]) -> list[ConsultationHit]:
    return [
        ConsultationHit(
            rank=rank,
            article_key=hit.article.key,
            law=hit.article.law,
            number=hit.article.number,
            chunk_id=hit.chunk_id,
            score=hit.score,
            dense_score=hit.dense_score,
            bm25_score=hit.bm25_score,
            retrievers=list(hit.retrievers),
        )
        for rank, hit in enumerate(hits, start=1)
    ]


def _by_msg_id(session: Session, msg_id: str, township: str | None) -> Consultation | None:
    stmt = select(Consultation).where(Consultation.msg_id == msg_id)
    if township is not None:
        stmt = stmt.where(Consultation.township == township)
    return session.scalars(stmt.order_by(Consultation.id).limit(1)).first()


def store_consultation(session: Session, row: Consultation) -> Consultation:
    """Commit `row`; if its (township, msg_id) or spool_id is already stored, by a retry in any worker or
    an earlier replay of the spool, return that row instead (its reply is the one that was sent)."""
    if (seen := _already_stored(session, row)) is not None:
        return seen
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        # The unique constraints, not the look-up above, make retries safe across workers.
        session.rollback()
        if (seen := _already_stored(session, row)) is None:
            raise
        return seen
    return row


def _already_stored(session: Session, row: Consultation) -> Consultation | None:
    if row.msg_id is not None and (seen := _by_msg_id(session, row.msg_id, row.township)) is not None:
        return seen
    if row.spool_id is not None:
        return session.scalars(select(Consultation).where(Consultation.spool_id == row.spool_id)).first()
    return None


def build_consultation(
    item: ConsultationIn,
    *,
    secret_key: str,
    township: str,
    followup_window_h: int = FOLLOWUP_WINDOW_H,
    now: datetime | None = None,
) -> Consultation:
    """The row for one consultation, not yet stored: question masked, openid pseudonymised and encrypted."""
    at, answer = utc_now(now), item.answer
    row = _new_consultation(
        channel=item.channel, township=township, msg_id=item.msg_id, question=item.question, at=at
    )
    row.category, row.reply, row.confidence = answer.category, item.reply_text, answer.confidence
    row.latency_ms, row.no_hit, row.emergency = item.latency_ms, answer.no_hit, answer.emergency
    row.asked_for_person, row.fallback = item.asked_for_person, item.fallback
    row.cited, row.more, row.hits = list(answer.cited), list(answer.more), _hit_rows(item.hits)
    row.curated_answer_id = answer.curated_id
    if item.openid:
        _keep_openid(row, item.openid, secret_key=secret_key, until=at + timedelta(hours=followup_window_h))
    return row


def record_consultation(
    session: Session,
    item: ConsultationIn,
    *,
    secret_key: str,
    township: str,
    followup_window_h: int = FOLLOWUP_WINDOW_H,
    now: datetime | None = None,
) -> int:
    """Store one consultation; returns its id. Idempotent on msg_id (a retry returns the first id)."""
    row = build_consultation(
        item, secret_key=secret_key, township=township, followup_window_h=followup_window_h, now=now
    )
    return store_consultation(session, row).id


def reply_for_msg_id(session: Session, msg_id: str, *, township: str | None = None) -> str | None:
    """The reply already sent for this MsgId (WeChat retries must get the same reply), or None."""
    row = _by_msg_id(session, msg_id, township)
    return row.reply if row is not None else None


def build_event(
    *, kind: str, openid: str, create_time: int, key: str | None, secret_key: str, township: str,
    now: datetime | None = None,
) -> Event:
    """The row for a subscribe / unsubscribe / menu-click event, not yet stored."""
    user_ref = pseudonymize(openid, secret_key=secret_key)
    return Event(
        created_at=utc_now(now), township=township, user_ref=user_ref, create_time=create_time, kind=kind,
        key=key,
    )


def store_event(session: Session, row: Event) -> bool:
    """Commit the event; False if (user, create_time, kind) was already stored (WeChat retried it)."""
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def record_event(
    session: Session,
    *,
    kind: str,
    openid: str,
    create_time: int,
    key: str | None,
    secret_key: str,
    township: str,
    now: datetime | None = None,
) -> bool:
    """Count subscribe / unsubscribe / menu-click events; False if (user, create_time, kind) was seen."""
    row = build_event(kind=kind, openid=openid, create_time=create_time, key=key, secret_key=secret_key,
                      township=township, now=now)  # fmt: skip
    return store_event(session, row)


def build_person_request(
    *, openid: str, secret_key: str, township: str, channel: str, question: str, reply_text: str,
    msg_id: str | None = None, latency_ms: float = 0.0, within_hours: int = FOLLOWUP_WINDOW_H,
    now: datetime | None = None,
) -> Consultation:
    """A request for a person (人工 / 调解) as the consultation it becomes when there is none to flag."""
    at = utc_now(now)
    row = _new_consultation(channel=channel, township=township, msg_id=msg_id, question=question, at=at)
    row.category, row.reply, row.confidence = PERSON_REQUEST_CATEGORY, reply_text, None
    row.latency_ms, row.asked_for_person, row.cited, row.more = latency_ms, True, [], []
    _keep_openid(row, openid, secret_key=secret_key, until=at + timedelta(hours=within_hours))
    return row


def apply_person_request(
    session: Session, request: Consultation, *, within_hours: int = FOLLOWUP_WINDOW_H
) -> int:
    """Flag the user's last consultation before the request (or store the request); returns its id.

    Applying the same request twice changes nothing more, so a replayed spool entry is harmless.
    """
    assert request.user_ref is not None, "a person request always has the sender's pseudonym"
    since = request.created_at - timedelta(hours=within_hours)
    row = last_consultation_for_ref(session, request.user_ref, since=since)
    if row is None or row.created_at > request.created_at:
        return store_consultation(session, request).id
    row.asked_for_person = True
    row.openid_enc, row.openid_expires_at = request.openid_enc, request.openid_expires_at
    session.commit()
    return row.id


def flag_person_request(
    session: Session,
    *,
    openid: str,
    secret_key: str,
    township: str,
    channel: str,
    question: str,
    reply_text: str,
    msg_id: str | None = None,
    latency_ms: float = 0.0,
    within_hours: int = FOLLOWUP_WINDOW_H,
    now: datetime | None = None,
) -> int:
    """Mark that the user asked for a person (人工 / 调解); returns the id of the flagged consultation.

    The user's last consultation within `within_hours` is flagged, so a volunteer sees the question the
    help is about. With none, the request itself is stored as a consultation (category 调解程序, no
    confidence), so a bare request for mediation is still counted and followed up. Either way the
    encrypted openid is kept `within_hours` from now: the request opens a new WeChat reply window.
    """
    request = build_person_request(
        openid=openid, secret_key=secret_key, township=township, channel=channel, question=question,
        reply_text=reply_text, msg_id=msg_id, latency_ms=latency_ms, within_hours=within_hours, now=now,
    )
    return apply_person_request(session, request, within_hours=within_hours)
