"""GroupCommitter: concurrent turns share commits, each gets its own stored row, retries stay single."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.records import store as records
from bot.records.database import engine_of
from bot.records.group_commit import GroupCommitter
from bot.records.models import Consultation, ConsultationHit
from bot.records.store import ConsultationRow, Stored
from tests.fixtures.web import TEST_SECRET_KEY, MakeConsultation

TOWNSHIP = "青山镇"


class HeldFirstBegin:
    """An engine whose first transaction (or connection: PostgreSQL writes a lone row in autocommit) waits
    until released, so the test controls what queues up."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.dialect = engine.dialect
        self.calls = 0
        self.first_opened = threading.Event()
        self.release = threading.Event()

    def begin(self) -> AbstractContextManager[Connection]:
        self._hold_first()
        return self._engine.begin()

    def connect(self) -> Connection:
        self._hold_first()
        return self._engine.connect()

    def _hold_first(self) -> None:
        self.calls += 1
        if self.calls == 1:
            self.first_opened.set()
            self.release.wait(timeout=10)


def _rows(make_consultation: MakeConsultation, count: int) -> list[ConsultationRow]:
    return [
        records.build_consultation(make_consultation(msg_id=str(24_500_000 + n), reply_text=f"答复{n}"),
                                   secret_key=TEST_SECRET_KEY, township=TOWNSHIP)
        for n in range(count)
    ]  # fmt: skip


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _store_while_held(
    committer: GroupCommitter, held: HeldFirstBegin, rows: list[ConsultationRow]
) -> Callable[[], list[Stored]]:
    """Stores rows[0] (held), then the rest while it is held; returns a waiter for every stored row."""
    pool = ThreadPoolExecutor(max_workers=len(rows))
    first = pool.submit(committer.store, rows[0])
    assert held.first_opened.wait(5)
    rest = [pool.submit(committer.store, row) for row in rows[1:]]
    for _ in range(500):
        if committer._batcher._queue.qsize() == len(rest):  # noqa: SLF001 - test inspection
            break
        threading.Event().wait(0.01)
    held.release.set()

    def results() -> list[Stored]:
        try:
            return [first.result(10), *(f.result(10) for f in rest)]
        finally:
            pool.shutdown()

    return results


def test_turns_finishing_together_share_one_commit_and_each_row_is_stored_once(
    db_session_factory: sessionmaker[Session], make_consultation: MakeConsultation
) -> None:
    held = HeldFirstBegin(engine_of(db_session_factory))
    committer = GroupCommitter(held, max_group=8)  # type: ignore[arg-type]
    rows = _rows(make_consultation, 12)
    stored = _store_while_held(committer, held, rows)()
    assert [row.reply for row in stored] == [f"答复{n}" for n in range(12)]
    assert committer.commits == 3  # the held one alone, then 8 + 3 queued behind it
    assert _count(db_session_factory, Consultation) == 12
    assert _count(db_session_factory, ConsultationHit) == sum(len(row.hits) for row in rows) > 0
    with db_session_factory() as session:  # each row's hits went to its own consultation, in rank order
        for row, got in zip(rows, stored, strict=True):
            hits = session.scalars(select(ConsultationHit).where(ConsultationHit.consultation_id == got.id)
                                   .order_by(ConsultationHit.rank)).all()  # fmt: skip
            assert [(h.rank, h.article_key, h.score, h.bm25_score, h.retrievers) for h in hits] == [
                (h["rank"], h["article_key"], h["score"], h["bm25_score"], h["retrievers"]) for h in row.hits
            ]


def test_a_retry_already_stored_gives_the_stored_row_and_the_rest_of_its_group_is_kept(
    db_session_factory: sessionmaker[Session], make_consultation: MakeConsultation
) -> None:
    earlier = _rows(make_consultation, 1)[0]
    with db_session_factory() as session:
        records.store_consultation(session, earlier)
    again = make_consultation(msg_id=earlier.values["msg_id"], reply_text="重试的答复")
    retry = records.build_consultation(again, secret_key=TEST_SECRET_KEY, township=TOWNSHIP)
    held = HeldFirstBegin(engine_of(db_session_factory))
    committer = GroupCommitter(held)  # type: ignore[arg-type]
    others = _rows(make_consultation, 4)[1:]
    stored = _store_while_held(committer, held, [others[0], retry, *others[1:]])()
    assert [row.reply for row in stored] == ["答复1", "答复0", "答复2", "答复3"]  # the retry: the first reply
    assert _count(db_session_factory, Consultation) == 4


def test_a_lone_retry_already_stored_gives_the_stored_row(
    db_session_factory: sessionmaker[Session], make_consultation: MakeConsultation
) -> None:
    """A lone row takes PostgreSQL's one-statement way: its unique-MsgId violation is caught all the same."""
    committer = GroupCommitter(engine_of(db_session_factory))
    first = committer.store(_rows(make_consultation, 1)[0])
    again = make_consultation(msg_id="24500000", reply_text="重试的答复")
    retry = committer.store(records.build_consultation(again, secret_key=TEST_SECRET_KEY, township=TOWNSHIP))
    assert retry == first and first.reply == "答复0"
    assert _count(db_session_factory, Consultation) == 1
    assert _count(db_session_factory, ConsultationHit) == len(again.hits)


def test_a_database_error_reaches_every_caller_of_the_group(
    unreachable: sessionmaker[Session],
    make_consultation: MakeConsultation,
) -> None:
    committer = GroupCommitter(engine_of(unreachable))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(committer.store, row) for row in _rows(make_consultation, 3)]
        for future in futures:
            with pytest.raises(OperationalError):
                future.result(30)
