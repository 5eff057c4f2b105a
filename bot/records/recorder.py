"""Storing a turn's record: in the database, or in the spool while the database cannot take it.

The rows are built first (bot/records/store.py: masked, pseudonymised, openid encrypted), so a spool entry
holds exactly what the database would, and never a raw openid. Replaying an entry is idempotent: a
consultation is stored once per (township, sender, msg_id) or per spool_id, an event once per
(user, CreateTime, kind), and a person request only sets flags. Any storage error spools the record, not
only the database's: a record is never lost to an error this module did not foresee.
"""

from __future__ import annotations

import base64
import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import describe_error
from bot.records import store as records
from bot.records.database import engine_of
from bot.records.followups import FOLLOWUP_WINDOW_H
from bot.records.group_commit import GroupCommitter
from bot.records.models import Event, own_values
from bot.records.spool import Entry, Spool, SpoolBlocked
from bot.records.store import ConsultationRow, Values

log = logging.getLogger(__name__)


def encode_values(values: Values) -> dict[str, Any]:
    """Column values as JSON values (datetimes ISO 8601, bytes base64)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:  # left out so that column defaults apply on replay
            continue
        if isinstance(value, datetime):
            value = {"t": value.isoformat()}
        elif isinstance(value, bytes):
            value = {"b": base64.b64encode(value).decode("ascii")}
        out[key] = value
    return out


def decode_values(data: dict[str, Any]) -> Values:
    values = {}
    for key, value in data.items():
        if isinstance(value, dict) and "t" in value:
            value = datetime.fromisoformat(value["t"])
        elif isinstance(value, dict) and "b" in value:
            value = base64.b64decode(value["b"])
        values[key] = value
    return values


def _consultation_entry(kind: str, row: ConsultationRow, **extra: Any) -> Entry:
    # A spool id is what makes a record without MsgId replay-safe; a row spooled again keeps its own.
    values = {**row.values, "spool_id": row.values.get("spool_id") or str(uuid.uuid4())}
    hits = [encode_values(hit) for hit in row.hits]
    return {"kind": kind, "row": encode_values(values), "hits": hits, **extra}


def _consultation_from(entry: Entry) -> ConsultationRow:
    return ConsultationRow(decode_values(entry["row"]), tuple(decode_values(hit) for hit in entry["hits"]))


def _unavailable(exc: BaseException) -> bool:
    """Errors that mean "the database cannot be reached now", as opposed to a bad entry."""
    if isinstance(exc, PoolTimeout):
        return True
    return (
        isinstance(exc, DBAPIError)
        and not isinstance(exc, IntegrityError)
        and (exc.connection_invalidated or type(exc).__name__ in ("OperationalError", "InterfaceError"))
    )


class Recorder:
    """Stores records for the dialogue; what the database refuses goes to the spool, fsynced."""

    def __init__(self, sessions: sessionmaker[Session], spool: Spool) -> None:
        self._sessions = sessions
        self.spool = spool
        self._writer = GroupCommitter(engine_of(sessions))

    def consultation(self, row: ConsultationRow) -> str | None:
        """Store the row; the stored record's reply (another worker's, for a retry), or None if spooled."""
        try:
            return self._writer.store(row).reply
        except Exception as exc:  # noqa: BLE001 - e.g. a driver's OverflowError: spooled, not lost
            self._spool(exc, _consultation_entry("consultation", row))
            return None

    def person_request(self, row: ConsultationRow, *, within_hours: int = FOLLOWUP_WINDOW_H) -> None:
        try:
            with self._sessions() as session:
                records.apply_person_request(session, row, within_hours=within_hours)
        except Exception as exc:  # noqa: BLE001
            self._spool(exc, _consultation_entry("person", row, within_hours=within_hours))

    def event(self, row: Event) -> None:
        try:
            with self._sessions() as session:
                records.store_event(session, row)
        except Exception as exc:  # noqa: BLE001
            self._spool(exc, {"kind": "event", "row": encode_values(own_values(row))})

    def _spool(self, exc: Exception, entry: Entry) -> None:
        log.error("database step failed (reply still sent): %s; record spooled", describe_error(exc))
        self.spool.append(entry)

    def reachable(self) -> bool:
        try:
            with self._sessions() as session:
                session.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def replay(self) -> int:
        """Store every spooled entry if the database is back; how many were applied."""
        if not self.spool.files() or not self.reachable():
            return 0
        applied = self.spool.replay(self._apply)
        if applied:
            log.info("replayed %d spooled records", applied)
        return applied

    def _apply(self, entry: Entry) -> None:
        try:
            with self._sessions() as session:
                kind = entry["kind"]
                if kind == "consultation":
                    records.store_consultation(session, _consultation_from(entry))
                elif kind == "person":
                    records.apply_person_request(session, _consultation_from(entry),
                                                 within_hours=int(entry["within_hours"]))  # fmt: skip
                elif kind == "event":
                    records.store_event(session, Event(**decode_values(entry["row"])))
                else:
                    raise ValueError(f"unknown spool entry kind {kind!r}")
        except SQLAlchemyError as exc:
            if _unavailable(exc):
                raise SpoolBlocked from exc
            raise
