"""Database engine and sessions: SQLite (one file in the data directory) or PostgreSQL via psycopg 3."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000  # writers queue behind each other instead of failing with "locked"
PG_CONNECT_TIMEOUT_S = 2
# Connections kept open per worker process. SQLAlchemy's default of 5 made most checkouts under load
# open and close a PostgreSQL connection (a server process each): 2 workers, 50 clients, 30 s went from
# 70 to 83 requests/s. Workers × (size + overflow) must stay below the server's max_connections (100).
PG_POOL_SIZE = 20
PG_POOL_OVERFLOW = 10


def normalise_url(url: str | URL) -> URL:
    """Plain postgresql:// URLs would pick psycopg2 (not installed): route them to psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the console read while the webhook writes; NORMAL sync is durable enough under WAL.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def make_engine(url: str | URL) -> Engine:
    """An engine for `url`; SQLite files get WAL, foreign keys and a busy timeout, and their folder made."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A server that does not answer must fail fast: the reply budget is 5 s (records then spool).
        # No ping before each use: a message checks connections out four times (three shared-state
        # statements, its record), and the pings cost a round trip each (2 workers: 75 → 82 requests/s).
        # After a restart the first statement on a dead connection fails instead, and SQLAlchemy then
        # discards the whole pool: that record is spooled, that claim kept in memory.
        postgres = parsed.get_backend_name() == "postgresql"
        connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT_S} if postgres else {}
        return create_engine(parsed, pool_pre_ping=False, connect_args=connect_args,
                             pool_size=PG_POOL_SIZE, max_overflow=PG_POOL_OVERFLOW)
    if parsed.database and parsed.database != ":memory:":
        create_private_file(Path(parsed.database))
    # Sessions move between FastAPI's worker threads; each connection is still used by one at a time.
    engine = create_engine(parsed, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_private_file(path: Path) -> None:
    """Create `path` (and its folder) readable by the owner only, 0600 in a 0700 folder, unless it exists:
    it holds the activity record. SQLite gives its -wal and -shm files the database file's permissions."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (replies are built from them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    """The engine the sessions are bound to, for work that needs no session (single Core statements)."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("need a session factory bound to an Engine")
    return bind


@contextmanager
def one_off_session(url: str | URL) -> Iterator[Session]:
    """A session on its own engine, disposed afterwards: for CLI commands that run once and exit."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()
