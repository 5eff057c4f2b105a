"""Consultations of turns that finish together, committed in one transaction by one writer thread.

Every commit costs a WAL write (a flush to disk on PostgreSQL) and, on SQLite, the file's single write
lock; under load, turns that each commit alone queue on that lock behind SQLite's busy back-off sleeps,
which made the slowest replies several times slower than the median. One writer stores whatever has
queued while its previous commit ran: a lone turn waits for nothing, a burst shares one commit.
Callers still block until their row is committed, so a reply is never sent before its record exists.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import records
from bot.models import Consultation, ConsultationHit

MAX_GROUP = 32  # rows per transaction; beyond this a commit holds the lock longer than it saves

Job = tuple[Consultation, "Future[Consultation]"]


class GroupCommitter:
    """Thread-safe `store(row)`: the stored consultation (or the earlier one of a retry), or the database's
    error (SQLAlchemyError) for the caller to spool."""

    def __init__(self, sessions: sessionmaker[Session], *, max_group: int = MAX_GROUP) -> None:
        self._sessions = sessions
        self._max_group = max_group
        self._queue: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.commits = 0  # transactions so far, for tests and benchmarks

    def store(self, row: Consultation) -> Consultation:
        future: Future[Consultation] = Future()
        self._ensure_started()
        self._queue.put((row, future))
        return future.result()

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pufa-record-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            jobs = [self._queue.get()]
            while len(jobs) < self._max_group:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(jobs)

    def _commit(self, jobs: list[Job]) -> None:
        rows = [row for row, _ in jobs]
        try:
            stored = self._store_all(rows)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller instead
            for _, future in jobs:
                future.set_exception(exc)
            return
        for (_, future), row in zip(jobs, stored, strict=True):
            future.set_result(row)

    def _store_all(self, rows: list[Consultation]) -> list[Consultation]:
        self.commits += 1
        with self._sessions() as session:
            session.add_all(rows)
            try:
                session.commit()
                return rows
            except IntegrityError:
                # A retry already stored by another worker (rare: turn claims catch most): one by one,
                # each duplicate replaced by the stored row. Fresh copies, since the rolled-back rows
                # keep the ids their failed insert gave them.
                session.rollback()
                return [records.store_consultation(session, _fresh_copy(row)) for row in rows]


def _fresh_copy(row: Consultation) -> Consultation:
    """The same consultation and hits as new, id-less objects."""
    copy = Consultation(**_column_values(row))
    copy.hits = [ConsultationHit(**_column_values(hit)) for hit in row.hits]
    return copy


def _column_values(row: Consultation | ConsultationHit) -> dict[str, object]:
    return {
        column.key: getattr(row, column.key)
        for column in row.__table__.columns
        if not column.primary_key and not column.foreign_keys
    }
