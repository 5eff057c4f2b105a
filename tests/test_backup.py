"""`pufa backup` / `pufa restore` on SQLite (online backup API) and PostgreSQL (pg_dump / pg_restore)."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import main
from bot.ops.backup import BackupError, backup, restore
from bot.records.database import make_engine
from bot.records.models import Consultation
from bot.records.store import record_consultation
from tests.fixtures.web import TEST_SECRET_KEY, MakeConsultation

TOWNSHIP = "青山镇"


def _msg_ids(sessions: sessionmaker[Session]) -> list[str | None]:
    with sessions() as session:
        return list(session.scalars(select(Consultation.msg_id).order_by(Consultation.id)))


def _record(sessions: sessionmaker[Session], make_consultation: MakeConsultation, msg_id: str) -> None:
    with sessions() as session:
        record_consultation(session, make_consultation(msg_id=msg_id), secret_key=TEST_SECRET_KEY,
                            township=TOWNSHIP)  # fmt: skip


def test_a_backup_restores_exactly_what_was_there(
    db_url: str,
    db_session_factory: sessionmaker[Session],
    make_consultation: MakeConsultation,
    tmp_path: Path,
) -> None:
    _record(db_session_factory, make_consultation, "1")
    _record(db_session_factory, make_consultation, "2")
    backup(db_url, tmp_path / "backups" / "pufa.backup")
    _record(db_session_factory, make_consultation, "3")
    with db_session_factory() as session:
        session.execute(delete(Consultation).where(Consultation.msg_id == "1"))
        session.commit()
    assert _msg_ids(db_session_factory) == ["2", "3"]
    db_session_factory.kw["bind"].dispose()  # pg_restore --clean drops tables: no idle connection in the way
    restore(db_url, tmp_path / "backups" / "pufa.backup")
    assert _msg_ids(db_session_factory) == ["1", "2"]


def test_a_backup_taken_while_the_webhook_writes_is_consistent(
    db_url: str,
    db_session_factory: sessionmaker[Session],
    make_consultation: MakeConsultation,
    tmp_path: Path,
) -> None:
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set() and n < 2000:
            n += 1
            _record(db_session_factory, make_consultation, f"w{n}")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        backup(db_url, tmp_path / "live.backup")
    finally:
        stop.set()
        writer.join(timeout=60)
    written = len(_msg_ids(db_session_factory))
    db_session_factory.kw["bind"].dispose()
    restore(db_url, tmp_path / "live.backup")
    with db_session_factory() as session:
        restored = session.scalar(select(func.count()).select_from(Consultation)) or 0
        orphans = [
            c for c in session.scalars(select(Consultation)) if len(c.hits) != len(make_consultation().hits)
        ]
    assert 0 <= restored <= written and orphans == []  # whole consultations, each with all its hits


def test_commands_back_up_and_restore_from_the_configured_database(
    db_url: str,
    db_session_factory: sessionmaker[Session],
    make_consultation: MakeConsultation,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PUFA_DATABASE_URL", db_url)
    _record(db_session_factory, make_consultation, "1")
    assert main(["backup", str(tmp_path / "b.backup")]) == 0
    _record(db_session_factory, make_consultation, "2")
    db_session_factory.kw["bind"].dispose()
    assert main(["restore", str(tmp_path / "b.backup")]) == 0
    assert _msg_ids(db_session_factory) == ["1"]
    assert main(["restore", str(tmp_path / "missing.backup")]) == 1
    assert "missing.backup does not exist" in capsys.readouterr().err


def test_a_file_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(BackupError, match="not an intact SQLite database|file is not a database"):
        restore(f"sqlite:///{tmp_path / 'pufa.db'}", junk)


def test_the_database_its_folder_and_backups_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'pufa.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        wal = data / "pufa.db-wal"
        assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600  # SQLite copies the file's mode
    engine.dispose()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "pufa.db").stat().st_mode) == 0o600
    backup(url, tmp_path / "backups" / "new.backup")
    assert stat.S_IMODE((tmp_path / "backups").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "backups" / "new.backup").stat().st_mode) == 0o600
    loose = tmp_path / "backups" / "loose.backup"
    loose.write_bytes(b"")
    loose.chmod(0o644)
    backup(url, loose)  # an existing file is narrowed before the record is copied into it
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600
