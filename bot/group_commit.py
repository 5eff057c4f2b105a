"""Consultations of turns that finish together, committed in one transaction by one writer thread.

Every commit costs a WAL write (a flush to disk on PostgreSQL) and, on SQLite, the file's single write
lock; under load, turns that each commit alone queue on that lock behind SQLite's busy back-off sleeps,
which made the slowest replies several times slower than the median. One writer stores whatever has
queued while its previous commit ran (`indexing.batching`): a lone turn waits for nothing, a burst
shares one commit. Callers still block until their row is committed, so a reply is never sent before
its record exists.

The rows are written with Core INSERTs (one per table and group, ids from RETURNING), not the ORM's unit
of work: flushing a consultation and its ten hits through the session cost ~3 ms of CPU per turn, most
of the web path's share of a reply, for bookkeeping (identity map, relationship events) no caller uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import records
from bot.models import Base, Consultation, ConsultationHit, own_values
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
            try:
                _insert_consultations(session, rows)
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


Values = dict[str, Any]
CONSULTATIONS: Table = Consultation.__table__  # type: ignore[assignment]
HITS: Table = ConsultationHit.__table__  # type: ignore[assignment]


def insert_values(row: Base) -> Values:
    """The columns the ORM would insert for `row`: its set values, None left out so that column
    defaults apply (as a flush does), ids left out for the database to give."""
    return {key: value for key, value in own_values(row).items() if value is not None}


def _insert_consultations(session: Session, rows: list[Consultation]) -> None:
    """INSERT the rows and their hits; each row gets its id (its hits are not read back: nobody does)."""
    ids = _insert_many(session, CONSULTATIONS, [insert_values(row) for row in rows], returning_ids=True)
    hits: list[Values] = []
    for row, row_id in zip(rows, ids, strict=True):
        row.id = row_id
        hits += ({**insert_values(hit), "consultation_id": row_id} for hit in row.hits)
    _insert_many(session, HITS, hits, returning_ids=False)


def _insert_many(session: Session, table: Table, values: list[Values], *, returning_ids: bool) -> list[int]:
    """One executemany per set of keys (rows without an openid, say, leave those columns out); the new
    ids in the order of `values` when asked for."""
    ids: list[int | None] = [None] * len(values)
    for _keys, group in _same_keys(values):
        indexes, params = zip(*group, strict=True)
        stmt = table.insert()
        if not returning_ids:
            session.execute(stmt, list(params))
            continue
        returned = session.execute(stmt.returning(table.c.id, sort_by_parameter_order=True), list(params))
        for index, new_id in zip(indexes, returned.scalars(), strict=True):
            ids[index] = new_id
    return [new_id for new_id in ids if new_id is not None]


def _same_keys(values: list[Values]) -> Iterable[tuple[frozenset[str], Iterable[tuple[int, Values]]]]:
    def keys(item: tuple[int, Values]) -> frozenset[str]:
        return frozenset(item[1])

    return groupby(sorted(enumerate(values), key=lambda item: sorted(keys(item))), key=keys)
