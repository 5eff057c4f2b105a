"""Recorder: records go to the database, or to the spool while it is unreachable, and are replayed once."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.records import store as records
from bot.records.models import Consultation, ConsultationHit, Event
from bot.records.recorder import Recorder
from bot.records.spool import Spool
from tests.fixtures.web import TEST_OPENID, TEST_SECRET_KEY, MakeConsultation

TOWNSHIP = "青山镇"


def _row(make_consultation: MakeConsultation, **changes: object) -> records.ConsultationRow:
    return records.build_consultation(
        make_consultation(**changes), secret_key=TEST_SECRET_KEY, township=TOWNSHIP
    )


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_records_are_stored_directly_while_the_database_is_up(
    db_session_factory: sessionmaker[Session], make_consultation: MakeConsultation, tmp_path: Path
) -> None:
    recorder = Recorder(db_session_factory, Spool(tmp_path / "spool"))
    assert recorder.consultation(_row(make_consultation)) == make_consultation().reply_text
    assert (
        recorder.consultation(_row(make_consultation, reply_text="另一个答复"))
        == make_consultation().reply_text
    )
    assert _count(db_session_factory, Consultation) == 1 and recorder.spool.files() == []


def test_an_outage_spools_every_kind_of_record_and_one_replay_stores_each_once(
    unreachable: sessionmaker[Session],
    db_session_factory: sessionmaker[Session],
    make_consultation: MakeConsultation,
    tmp_path: Path,
) -> None:
    spool_dir = tmp_path / "spool"
    down = Recorder(unreachable, Spool(spool_dir))
    curated = replace(make_consultation().answer, curated_id=5)  # the reply reused curated answer #5
    assert down.consultation(_row(make_consultation, answer=curated)) is None  # spooled: nothing to compare
    assert down.consultation(_row(make_consultation, msg_id=None, channel="cli", openid=None)) is None
    down.person_request(records.build_person_request(
        openid=TEST_OPENID, secret_key=TEST_SECRET_KEY, township=TOWNSHIP, channel="wechat", question="人工",
        reply_text="请联系调解委员会", msg_id="24400002",
    ))  # fmt: skip
    down.event(records.build_event(kind="subscribe", openid=TEST_OPENID, create_time=1_700_000_000, key=None,
                                   secret_key=TEST_SECRET_KEY, township=TOWNSHIP))  # fmt: skip
    assert down.replay() == 0  # still down: nothing is lost, nothing applied
    down.spool.seal()
    content = b"".join(p.read_bytes() for p in down.spool.files())
    assert TEST_OPENID.encode() not in content and b"13812345678" not in content  # masked, encrypted
    copy = tmp_path / "copy"
    shutil.copytree(spool_dir, copy)  # as if a crash had stopped the first replay before deleting the file

    up = Recorder(db_session_factory, Spool(spool_dir))
    assert up.replay() == 4 and up.spool.files() == []
    assert Recorder(db_session_factory, Spool(copy)).replay() == 4  # the same entries again
    with db_session_factory() as session:
        rows = session.scalars(select(Consultation).order_by(Consultation.id)).all()
        assert [(r.msg_id, r.channel) for r in rows] == [("24400001", "wechat"), (None, "cli")]
        assert rows[0].asked_for_person and rows[0].openid_enc is not None  # flagged by the 人工 request
        assert rows[1].spool_id is not None  # what kept the MsgId-less record single
        assert (rows[0].curated_answer_id, rows[1].curated_answer_id) == (5, None)
        assert len(rows[0].hits) == len(make_consultation().hits)
        assert records.followup_openid(session, rows[0].id, secret_key=TEST_SECRET_KEY) == TEST_OPENID
    assert _count(db_session_factory, Event) == 1
    assert _count(db_session_factory, ConsultationHit) == 2 * len(make_consultation().hits)  # no duplicates


def test_a_replay_blocked_by_a_second_outage_resumes_later(
    unreachable: sessionmaker[Session],
    db_session_factory: sessionmaker[Session],
    make_consultation: MakeConsultation,
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool")
    down = Recorder(unreachable, spool)
    for n in range(3):
        down.consultation(_row(make_consultation, msg_id=f"2440000{n}"))
    spool.seal()
    assert Recorder(unreachable, Spool(tmp_path / "spool")).spool.replay(down._apply) == 0  # blocked
    assert len(spool.files()) == 1
    assert Recorder(db_session_factory, Spool(tmp_path / "spool")).replay() == 3
    assert _count(db_session_factory, Consultation) == 3


def test_any_storage_error_spools_the_record(
    db_session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    # A CreateTime of 30 digits reached SQLite as an OverflowError (not SQLAlchemy's): the record was lost.
    recorder = Recorder(db_session_factory, Spool(tmp_path / "spool"))
    recorder.event(records.build_event(kind="subscribe", openid=TEST_OPENID, create_time=10**30, key=None,
                                       secret_key=TEST_SECRET_KEY, township=TOWNSHIP))  # fmt: skip
    assert _count(db_session_factory, Event) == 0
    recorder.spool.seal()
    assert len(recorder.spool.files()) == 1  # kept, for the replay or for a person to look at
