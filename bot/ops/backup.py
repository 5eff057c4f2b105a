"""`pufa backup` / `pufa restore`: a consistent copy of the activity record, taken while the server runs.

SQLite: the online backup API (sqlite3.Connection.backup) copies page by page under SQLite's own
locking, so the webhook keeps writing meanwhile; restoring goes the same way in reverse. PostgreSQL:
pg_dump's custom format, restored with pg_restore --clean (the client tools of Debian's
postgresql-client package, on PATH).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import URL

from bot.records.database import create_private_file, normalise_url

PG_TIMEOUT_S = 3600


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why and what to do."""


def backup(url: str | URL, dest: Path) -> None:
    """Write a backup of the database at `url` to the file `dest`."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        _sqlite_copy(_sqlite_path(parsed), dest, must_exist=True)
    else:
        _private(dest)
        _pg_tool("pg_dump", parsed, "--format=custom", "--no-owner", f"--file={dest}")


def restore(url: str | URL, source: Path) -> None:
    """Replace the content of the database at `url` with the backup in `source`."""
    if not source.is_file():
        raise BackupError(f"backup file {source} does not exist")
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite(source)
        _sqlite_copy(source, _sqlite_path(parsed), must_exist=False)
    else:
        _pg_tool(
            "pg_restore", parsed, "--clean", "--if-exists", "--no-owner", "--single-transaction", str(source)
        )


def _private(dest: Path) -> None:
    """`dest` created 0600 (its folder 0700 if new), or an existing file narrowed to 0600, before any
    content is written into it: pg_dump and SQLite keep a file's permissions. A backup holds the whole
    activity record; a restored database file is the record itself."""
    create_private_file(dest)
    dest.chmod(0o600)


def _check_sqlite(source: Path) -> None:
    try:
        with closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as check:
            intact = check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    except sqlite3.DatabaseError:
        intact = False
    if not intact:
        raise BackupError(f"{source} is not an intact SQLite database; give a file `pufa backup` wrote")


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(url.database)


def _sqlite_copy(source: Path, dest: Path, *, must_exist: bool) -> None:
    if must_exist and not source.is_file():
        raise BackupError(f"database file {source} does not exist; check PUFA_DATA_DIR / PUFA_DATABASE_URL")
    _private(dest)
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(dest)) as dst:
        src.backup(dst)


def _pg_tool(tool: str, url: URL, *args: str) -> None:
    """Run pg_dump / pg_restore against `url`; the password goes by environment, never on the command line."""
    executable = shutil.which(tool)
    if executable is None:
        raise BackupError(
            f"{tool} not found: install PostgreSQL's client tools (apt-get install postgresql-client)"
        )
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    target = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    done = subprocess.run([executable, *args, f"--dbname={target}"], env=env, capture_output=True, text=True,
                          timeout=PG_TIMEOUT_S)  # fmt: skip
    if done.returncode != 0:
        raise BackupError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
