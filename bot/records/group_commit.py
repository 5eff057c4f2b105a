"""Consultations of turns that finish together, committed in one transaction by one writer thread.

Every commit costs a WAL write (a flush to disk on PostgreSQL) and, on SQLite, the file's single write
lock; under load, turns that each commit alone queue on that lock behind SQLite's busy back-off sleeps,
which made the slowest replies several times slower than the median. One writer stores whatever has
queued while its previous commit ran (`indexing.batching`): a lone turn waits for nothing, a burst
shares one commit. Callers still block until their row is committed, so a reply is never sent before
its record exists.

The rows are plain column values (bot/records/store.py), written with Core INSERTs on a connection (one
executemany per table and group, ids from RETURNING), not through a session: the ORM's unit of work, and
the session's own layers under Core statements, cost most of this thread's CPU, held under the GIL, for
bookkeeping (identity map, events) no caller uses. On PostgreSQL a lone row is one statement in
autocommit, and a group's hits one COPY (bot/records/postgres.py).
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from bot.records import postgres as postgres_records
from bot.records import store as records
from bot.records.store import ConsultationRow, Stored
from indexing.batching import Batcher

MAX_GROUP = 32  # rows per transaction; beyond this a commit holds the lock longer than it saves


class GroupCommitter:
    """Thread-safe `store(row)`: the stored consultation (or the earlier one of a retry), or the database's
    error (SQLAlchemyError) for the caller to spool."""

    def __init__(self, engine: Engine, *, max_group: int = MAX_GROUP) -> None:
        self._engine = engine
        self._one_statement = postgres_records.is_postgresql(engine)  # for a lone consultation
        self._batcher: Batcher[ConsultationRow, Stored] = Batcher(
            self._store_all, max_batch=max_group, name="pufa-record-writer"
        )

    @property
    def commits(self) -> int:
        """Transactions so far, for tests and benchmarks."""
        return self._batcher.batches

    def store(self, row: ConsultationRow) -> Stored:
        return self._batcher.submit(row)

    def _store_all(self, rows: list[ConsultationRow]) -> list[Stored]:
        try:
            ids = self._insert(rows)
        except IntegrityError:
            # A retry already stored by another worker (rare: turn claims catch most): one by one, each
            # duplicate answered with the stored row.
            with self._engine.connect() as connection:
                return [records.store_consultation(connection, row) for row in rows]
        return [Stored(row_id, row.values["reply"]) for row, row_id in zip(rows, ids, strict=True)]

    def _insert(self, rows: list[ConsultationRow]) -> list[int]:
        """The rows' new ids, all committed (or none)."""
        if self._one_statement and len(rows) == 1 and postgres_records.complete(rows[0].hits):
            with self._engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT")  # the statement commits itself
                return [postgres_records.insert_alone(connection, rows[0].values, rows[0].hits)]
        with self._engine.begin() as connection:
            return records.insert_consultations(connection, rows)
