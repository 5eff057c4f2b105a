"""Consultations of turns that finish together, committed in one transaction by one writer thread.

Every commit costs a WAL write (a flush to disk on PostgreSQL) and, on SQLite, the file's single write
lock; under load, turns that each commit alone queue on that lock behind SQLite's busy back-off sleeps,
which made the slowest replies several times slower than the median. One writer stores whatever has
queued while its previous commit ran (`indexing.batching`): a lone turn waits for nothing, a burst
shares one commit. Callers still block until their row is committed, so a reply is never sent before
its record exists.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import records
from bot.models import Consultation, ConsultationHit, own_values
from indexing.batching import Batcher

MAX_GROUP = 32  # rows per transaction; beyond this a commit holds the lock longer than it saves


class GroupCommitter:
    """Thread-safe `store(row)`: the stored consultation (or the earlier one of a retry), or the database's
    error (SQLAlchemyError) for the caller to spool."""

    def __init__(self, sessions: sessionmaker[Session], *, max_group: int = MAX_GROUP) -> None:
        self._sessions = sessions
        self._batcher: Batcher[Consultation, Consultation] = Batcher(
            self._store_all, max_batch=max_group, name="pufa-record-writer"
        )

    @property
    def commits(self) -> int:
        """Transactions so far, for tests and benchmarks."""
        return self._batcher.batches

    def store(self, row: Consultation) -> Consultation:
        return self._batcher.submit(row)

    def _store_all(self, rows: list[Consultation]) -> list[Consultation]:
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
    copy = Consultation(**own_values(row))
    copy.hits = [ConsultationHit(**own_values(hit)) for hit in row.hits]
    return copy
