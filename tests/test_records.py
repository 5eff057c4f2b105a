from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.records.models import Consultation, ConsultationHit, Event
from bot.records.privacy import pseudonymize
from bot.records.store import (
    ConsultationIn,
    RecordError,
    build_consultation,
    flag_person_request,
    insert_consultations,
    record_consultation,
    record_event,
    reply_for_msg_id,
)
from tests.fixtures.web import TEST_OPENID as OPENID
from tests.fixtures.web import TEST_SECRET_KEY as KEY
from tests.fixtures.web import MakeConsultation

TOWNSHIP = "某某乡"
T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def _record(session: Session, item: ConsultationIn, *, township: str = TOWNSHIP) -> int:
    return record_consultation(session, item, secret_key=KEY, township=township, now=T0)


def _ask_for_person(
    session: Session, *, now: datetime, question: str = "人工", msg_id: str | None = None
) -> int:
    return flag_person_request(
        session, openid=OPENID, secret_key=KEY, township=TOWNSHIP, channel="wechat", question=question,
        reply_text="联系方式", msg_id=msg_id, now=now,
    )  # fmt: skip


def _stored(session: Session, cid: int) -> Consultation:
    """The row as committed: anything left only in this session's memory is dropped first."""
    session.rollback()
    session.expunge_all()
    return session.get_one(Consultation, cid)


def _count(session: Session, model: type[Consultation | ConsultationHit | Event]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_consultation_is_stored_with_its_hits_masked_and_pseudonymised(
    db_session: Session, make_consultation: MakeConsultation
) -> None:
    item = make_consultation()
    row = _stored(db_session, _record(db_session, item))
    assert (row.channel, row.township, row.msg_id, row.category) == (
        "wechat",
        TOWNSHIP,
        "24400001",
        "借贷欠款",
    )
    assert row.question == "邻居借了我5000元不还，他电话138****5678"
    assert row.user_ref == pseudonymize(OPENID, secret_key=KEY)
    assert row.created_at == T0 and row.openid_expires_at == T0 + timedelta(hours=48)
    assert (row.reply, row.confidence, row.latency_ms) == (item.reply_text, 0.8, 312.5)
    assert (row.no_hit, row.emergency, row.asked_for_person, row.fallback) == (False, False, False, False)
    assert row.cited == list(item.answer.cited) and row.more == list(item.answer.more)
    assert row.review_status == "unreviewed" and row.verdict is None and row.curated_answer_id is None
    stored = [
        (h.rank, h.article_key, h.number, h.score, h.dense_score, h.bm25_score, h.retrievers)
        for h in row.hits
    ]
    expected = [
        (rank, h.article.key, h.article.number, h.score, h.dense_score, h.bm25_score, list(h.retrievers))
        for rank, h in enumerate(item.hits, start=1)
    ]
    assert stored == expected and {h.law for h in row.hits} == {"中华人民共和国民法典"}


def test_the_curated_answer_a_reply_reused_is_recorded(
    db_session: Session, make_consultation: MakeConsultation
) -> None:
    item = make_consultation()
    reused = make_consultation(answer=replace(item.answer, curated_id=12))
    assert _stored(db_session, _record(db_session, reused)).curated_answer_id == 12


def test_unknown_channel_is_refused(db_session: Session, make_consultation: MakeConsultation) -> None:
    with pytest.raises(RecordError, match="'sms'"):
        _record(db_session, make_consultation(channel="sms"))


def test_a_retried_msg_id_is_stored_once_and_gets_the_first_reply(
    db_session: Session, make_consultation: MakeConsultation
) -> None:
    first = _record(db_session, make_consultation())
    assert _record(db_session, make_consultation(reply_text="另一个答复")) == first
    assert _count(db_session, Consultation) == 1
    assert _count(db_session, ConsultationHit) == len(make_consultation().hits)
    assert reply_for_msg_id(db_session, "24400001") == make_consultation().reply_text
    assert reply_for_msg_id(db_session, "24400001", township="另一乡") is None
    assert reply_for_msg_id(db_session, "99999999") is None


def test_another_senders_msg_id_is_not_a_retry_and_gets_its_own_row(
    db_session: Session, make_consultation: MakeConsultation
) -> None:
    # Before: dedupe on (township, MsgId) alone gave the second sender the first sender's reply.
    first = _record(db_session, make_consultation())
    other = _record(db_session, make_consultation(openid="oAnotherSender", reply_text="另一人的答复"))
    assert other != first
    assert _stored(db_session, other).reply == "另一人的答复"
    assert _stored(db_session, other).user_ref == pseudonymize("oAnotherSender", secret_key=KEY)
    assert _stored(db_session, first).reply == make_consultation().reply_text
    assert _record(db_session, make_consultation(reply_text="重试")) == first  # the first sender's retry


def test_msg_id_is_unique_per_township_and_optional(
    db_session: Session, make_consultation: MakeConsultation
) -> None:
    cli = make_consultation(msg_id=None, channel="cli", openid=None)
    ids = {
        _record(db_session, make_consultation()),
        _record(db_session, make_consultation(), township="另一乡"),
        _record(db_session, cli),
        _record(db_session, cli),
    }
    assert len(ids) == 4
    assert _stored(db_session, max(ids)).user_ref is None


def test_concurrent_workers_storing_one_msg_id_keep_one_row(
    db_session_factory: sessionmaker[Session], make_consultation: MakeConsultation
) -> None:
    workers = 6
    barrier = threading.Barrier(workers)
    ids: list[int] = []

    def worker() -> None:
        with db_session_factory() as session:
            barrier.wait()
            ids.append(_record(session, make_consultation()))

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(ids) == workers and len(set(ids)) == 1
    with db_session_factory() as session:
        assert _count(session, Consultation) == 1


def test_an_insert_racing_an_uncommitted_one_returns_the_winner(
    db_session_factory: sessionmaker[Session], make_consultation: MakeConsultation
) -> None:
    # Worker A has written the row but not committed: B's look-up misses it, B's insert waits on A's
    # write lock, then hits the unique constraint once A commits, and must return A's row.
    result: list[int] = []

    def worker_b() -> None:
        with db_session_factory() as session:
            result.append(_record(session, make_consultation()))

    with db_session_factory() as a:
        a.add(Consultation(created_at=T0, channel="wechat", township=TOWNSHIP, msg_id="24400001",
                           user_ref=pseudonymize(OPENID, secret_key=KEY),  # the same sender's message
                           question="q", category="其他", reply="A 的答复", latency_ms=1.0))  # fmt: skip
        a.flush()
        b = threading.Thread(target=worker_b)
        b.start()
        b.join(timeout=0.5)  # B is now waiting for A's lock
        a.commit()
        b.join(timeout=30)
        winner = a.scalars(select(Consultation.id)).one()
    assert result == [winner]
    with db_session_factory() as session:
        assert reply_for_msg_id(session, "24400001") == "A 的答复"


def test_the_database_files_never_hold_the_raw_openid_or_phone(
    db_session: Session, make_consultation: MakeConsultation, db_url: str
) -> None:
    _record(db_session, make_consultation())
    record_event(db_session, kind="subscribe", openid=OPENID, create_time=1_700_000_000, key=None,
                 secret_key=KEY, township=TOWNSHIP)  # fmt: skip
    _ask_for_person(db_session, now=T0 + timedelta(hours=1))
    if not db_url.startswith("sqlite:///"):
        pytest.skip("reads the bytes of a SQLite file")
    db_path = Path(db_url.removeprefix("sqlite:///"))
    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]  # .db, -wal, -shm
    content = b"".join(p.read_bytes() for p in files)
    assert b"138****5678" in content  # the masked question did reach the bytes we read
    for secret in (OPENID, "13812345678"):
        assert secret.encode() not in content and secret.encode("utf-16-le") not in content


def test_events_are_counted_once_per_user_time_and_kind(db_session: Session) -> None:
    def event(kind: str, create_time: int, openid: str = OPENID) -> bool:
        return record_event(db_session, kind=kind, openid=openid, create_time=create_time, key=None,
                            secret_key=KEY, township=TOWNSHIP)  # fmt: skip

    assert event("subscribe", 1_700_000_000)
    assert not event("subscribe", 1_700_000_000)  # WeChat's retry
    assert event("unsubscribe", 1_700_000_000)
    assert event("subscribe", 1_700_000_100)
    assert event("subscribe", 1_700_000_000, openid="another-openid")
    assert _count(db_session, Event) == 4


def test_a_person_request_flags_the_last_question_and_reopens_the_window(
    db_session: Session, make_consultation: MakeConsultation
) -> None:
    cid = _record(db_session, make_consultation())
    later = T0 + timedelta(hours=47)
    assert _ask_for_person(db_session, now=later) == cid
    row = _stored(db_session, cid)
    assert row.asked_for_person and row.openid_expires_at == later + timedelta(hours=48)
    assert _count(db_session, Consultation) == 1


def test_a_person_request_without_a_recent_question_is_recorded(
    db_session: Session, make_consultation: MakeConsultation
) -> None:
    _record(db_session, make_consultation())  # older than the 48 h window below
    now = T0 + timedelta(hours=49)
    cid = _ask_for_person(db_session, now=now, question="调解 我电话13812345678", msg_id="555")
    assert _ask_for_person(db_session, now=now, msg_id="555") == cid  # WeChat's retry, or a second 人工
    row = _stored(db_session, cid)
    assert (row.category, row.asked_for_person, row.confidence, row.reply) == (
        "调解程序",
        True,
        None,
        "联系方式",
    )
    assert (row.question, row.cited, row.more) == ("调解 我电话138****5678", [], [])
    assert _count(db_session, Consultation) == 2


def test_a_hit_the_database_refuses_is_sqlalchemys_error_and_nothing_is_kept(
    db_session: Session, make_consultation: MakeConsultation, db_url: str
) -> None:
    """PostgreSQL takes the hits by COPY, outside SQLAlchemy's statements: its errors must still come as
    SQLAlchemy's, which the record's callers spool on."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite does not enforce a column's length")
    row = build_consultation(make_consultation(), secret_key=KEY, township=TOWNSHIP)
    too_long = replace(row, hits=({**row.hits[0], "article_key": "键" * 161},))
    with pytest.raises(DBAPIError):
        insert_consultations(db_session, [too_long])
    db_session.rollback()
    assert _count(db_session, Consultation) == 0
