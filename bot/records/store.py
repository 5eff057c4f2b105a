"""Activity records: storing consultations and events, idempotently, before the reply is returned.

Every function here that takes a session commits, so call them with one that holds no other pending work
(`insert_consultations` alone leaves the commit to its caller). The models live in bot/records/models.py; a
user's recent consultations (更多, rate limit, openid window) in bot/records/followups.py, re-exported here for the
webhook.

Consultations are written as plain column values (`ConsultationRow`) with Core INSERTs, never as ORM
objects: building a consultation and its ten hits as instrumented objects (attribute, collection and
backref events) cost ~0.8 ms of CPU a turn, held under the GIL, for bookkeeping no writer reads. The
models stay for reading and for updating stored rows.

"更多" and "人工" turns are not consultations of their own: `take_more` advances the user's last
consultation and `flag_person_request` flags it, so the statistics count questions, not turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, Select, Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.records import postgres as postgres_records
from bot.records.followups import (
    FOLLOWUP_WINDOW_H,
    followup_openid,
    last_consultation_for_ref,
    last_consultation_for_user,
    purge_expired_openids,
    recent_message_count,
    take_more,
    utc_now,
)
from bot.records.models import CHANNELS, Consultation, ConsultationHit, Event
from bot.records.privacy import encrypt_openid, mask_pii, pseudonymize

if TYPE_CHECKING:
    from bot.answers.composer import Answer
    from indexing.retrieval import Hit

__all__ = [
    "ConsultationIn",
    "ConsultationRow",
    "RecordError",
    "Stored",
    "apply_person_request",
    "build_consultation",
    "build_event",
    "build_person_request",
    "flag_person_request",
    "followup_openid",
    "insert_consultations",
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


Values = dict[str, Any]  # column name → value, as Core INSERT parameters take them
Db = Session | Connection  # a caller's session, or the record writer's connection: both run Core statements

CONSULTATIONS: Table = Consultation.__table__  # type: ignore[assignment]
HITS: Table = ConsultationHit.__table__  # type: ignore[assignment]
# Built once: their compiled forms are cached (per set of parameter keys).
_INSERT_CONSULTATIONS = CONSULTATIONS.insert().returning(CONSULTATIONS.c.id, sort_by_parameter_order=True)
_INSERT_HITS = HITS.insert()
_STORED = select(CONSULTATIONS.c.id, CONSULTATIONS.c.reply)
_NO_OPENID: Values = {"user_ref": None, "openid_enc": None, "openid_expires_at": None}


@dataclass(frozen=True, slots=True)
class ConsultationRow:
    """A consultation not yet stored: its column values and its hits' (best first), ids left out for the
    database to give. A column left out gets its default."""

    values: Values
    hits: tuple[Values, ...] = ()


class Stored(NamedTuple):
    """A stored consultation, as its writers need it back."""

    id: int
    reply: str  # the reply sent: a retry's stored row carries the first reply, not the retry's


def _new_values(*, channel: str, township: str, msg_id: str | None, question: str, at: datetime) -> Values:
    if channel not in CHANNELS:
        raise RecordError(f"channel {channel!r} is unknown; use one of {', '.join(CHANNELS)}.")
    return {
        "created_at": at, "channel": channel, "township": township, "msg_id": msg_id,
        "question": mask_pii(question),
    }  # fmt: skip


def _openid_values(openid: str, *, secret_key: str, until: datetime) -> Values:
    """The user's pseudonym, and the openid itself encrypted until the follow-up window ends."""
    user_ref = pseudonymize(openid, secret_key=secret_key)
    return {
        "user_ref": user_ref,
        "openid_enc": encrypt_openid(openid, secret_key=secret_key, user_ref=user_ref),
        "openid_expires_at": until,
    }


def _hit_values(hits: Sequence[Hit]) -> tuple[Values, ...]:
    return tuple(
        {
            "rank": rank,
            "article_key": hit.article.key,
            "law": hit.article.law,
            "number": hit.article.number,
            "chunk_id": hit.chunk_id,
            "score": hit.score,
            "dense_score": hit.dense_score,
            "bm25_score": hit.bm25_score,
            "retrievers": list(hit.retrievers),
        }
        for rank, hit in enumerate(hits, start=1)
    )


def _first_stored(db: Db, stmt: Select[tuple[int, str]]) -> Stored | None:
    found = db.execute(stmt).first()
    return Stored._make(found) if found is not None else None


def _by_msg_id(db: Db, msg_id: str, township: str | None, *, sender: Values | None = None) -> Stored | None:
    """The consultation stored under this MsgId; with `sender` (a row's values), only if it is that
    sender's (a user_ref of None matches only None)."""
    stmt = _STORED.where(CONSULTATIONS.c.msg_id == msg_id)
    if township is not None:
        stmt = stmt.where(CONSULTATIONS.c.township == township)
    if sender is not None:
        stmt = stmt.where(CONSULTATIONS.c.user_ref == sender.get("user_ref"))
    return _first_stored(db, stmt.order_by(CONSULTATIONS.c.id).limit(1))


def insert_consultations(db: Db, rows: Sequence[ConsultationRow]) -> list[int]:
    """INSERT the rows and their hits in the caller's transaction (no commit); the rows' new ids, in order."""
    values = [row.values for row in rows]
    ids = [0] * len(values)
    for indexes in _same_keys(values):
        returned = db.execute(_INSERT_CONSULTATIONS, [values[index] for index in indexes])
        for index, new_id in zip(indexes, returned.scalars(), strict=True):
            ids[index] = new_id
    hits = [
        {**hit, "consultation_id": row_id} for row, row_id in zip(rows, ids, strict=True) for hit in row.hits
    ]
    connection = db if isinstance(db, Connection) else db.connection()
    if hits and postgres_records.is_postgresql(connection) and postgres_records.complete(hits):
        postgres_records.copy_hits(connection, hits)
        return ids
    for indexes in _same_keys(hits):
        db.execute(_INSERT_HITS, [hits[index] for index in indexes])
    return ids


def _same_keys(values: Sequence[Values]) -> list[list[int]]:
    """The indexes of `values` grouped by their keys, as one executemany takes one set of keys (rows read
    back from the spool, and person requests, leave some columns out)."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, row in enumerate(values):
        groups.setdefault(tuple(row), []).append(index)
    return list(groups.values())


def store_consultation(db: Db, row: ConsultationRow) -> Stored:
    """Commit `row`; if the same sender's (township, msg_id) or the spool_id is already stored, by a retry
    in any worker or an earlier replay of the spool, return that row instead (its reply is the one that was
    sent). A MsgId already stored for another sender is not theirs: the row is stored without it, so the
    sender gets and keeps their own reply (never the other sender's)."""
    if (seen := _already_stored(db, row)) is not None:
        return seen
    try:
        [row_id] = insert_consultations(db, [row])
        db.commit()
    except IntegrityError:
        # The unique constraints, not the look-up above, make retries safe across workers.
        db.rollback()
        if (seen := _already_stored(db, row)) is not None:
            return seen
        msg_id = row.values.get("msg_id")
        if msg_id is None or _by_msg_id(db, msg_id, row.values["township"]) is None:
            raise
        return store_consultation(db, ConsultationRow({**row.values, "msg_id": None}, row.hits))
    return Stored(row_id, row.values["reply"])


def _already_stored(db: Db, row: ConsultationRow) -> Stored | None:
    msg_id, spool_id = row.values.get("msg_id"), row.values.get("spool_id")
    township = row.values["township"]
    if msg_id is not None and (seen := _by_msg_id(db, msg_id, township, sender=row.values)) is not None:
        return seen
    if spool_id is not None:
        return _first_stored(db, _STORED.where(CONSULTATIONS.c.spool_id == spool_id))
    return None


def build_consultation(
    item: ConsultationIn,
    *,
    secret_key: str,
    township: str,
    followup_window_h: int = FOLLOWUP_WINDOW_H,
    now: datetime | None = None,
) -> ConsultationRow:
    """The row for one consultation, not yet stored: question masked, openid pseudonymised and encrypted.
    Every such row has the same columns (None where there is no value): a group of them is one executemany."""
    at, answer = utc_now(now), item.answer
    until = at + timedelta(hours=followup_window_h)
    values = {
        **_new_values(channel=item.channel, township=township, msg_id=item.msg_id, question=item.question,
                      at=at),
        "category": answer.category, "reply": item.reply_text, "confidence": answer.confidence,
        "latency_ms": item.latency_ms, "no_hit": answer.no_hit, "emergency": answer.emergency,
        "asked_for_person": item.asked_for_person, "fallback": item.fallback, "cited": list(answer.cited),
        "more": list(answer.more), "curated_answer_id": answer.curated_id,
        "satisfaction_asked": answer.asks_verdict,
        **(_openid_values(item.openid, secret_key=secret_key, until=until) if item.openid else _NO_OPENID),
    }  # fmt: skip
    return ConsultationRow(values, _hit_values(item.hits))


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
) -> ConsultationRow:
    """A request for a person (人工 / 调解) as the consultation it becomes when there is none to flag."""
    at = utc_now(now)
    values = {
        **_new_values(channel=channel, township=township, msg_id=msg_id, question=question, at=at),
        "category": PERSON_REQUEST_CATEGORY, "reply": reply_text, "confidence": None,
        "latency_ms": latency_ms, "asked_for_person": True, "cited": [], "more": [],
        **_openid_values(openid, secret_key=secret_key, until=at + timedelta(hours=within_hours)),
    }  # fmt: skip
    return ConsultationRow(values)


def apply_person_request(
    session: Session, request: ConsultationRow, *, within_hours: int = FOLLOWUP_WINDOW_H
) -> int:
    """Flag the user's last consultation before the request (or store the request); returns its id.

    Applying the same request twice changes nothing more, so a replayed spool entry is harmless.
    """
    values = request.values
    assert values["user_ref"] is not None, "a person request always has the sender's pseudonym"
    asked_at: datetime = values["created_at"]
    since = asked_at - timedelta(hours=within_hours)
    row = last_consultation_for_ref(session, values["user_ref"], since=since)
    if row is None or row.created_at > asked_at:
        return store_consultation(session, request).id
    row.asked_for_person = True
    row.openid_enc, row.openid_expires_at = values["openid_enc"], values["openid_expires_at"]
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
