"""The record spool: an append-only JSON-lines file per worker, for records the database cannot take now.

An entry is written and fsynced before the reply leaves, so an answered message's record survives a
database outage and a killed worker. Each worker appends to a file of its own and holds an exclusive
flock on it while it does; any worker may replay a file nobody holds (sealed by its writer, or left by a
dead one), and deletes it once every entry is stored. Entries are idempotent (bot/records/recorder.py), so a
file replayed twice, e.g. after a crash mid-replay, still stores each record once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)
Entry = dict[str, Any]


class SpoolBlocked(Exception):
    """Raised by a replay's `apply` when the database is still unavailable: replay stops, files stay."""


class Spool:
    """The spool folder of one deployment (shared by its workers); this process's own file in it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rejected = directory / "rejected"
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None

    def append(self, entry: Entry) -> None:
        """Write one entry durably (flushed and fsynced) before returning."""
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._lock:
            file = self._file or self._open()
            file.write(line)
            file.flush()
            os.fsync(file.fileno())

    def _open(self) -> IO[bytes]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"{os.getpid()}-{secrets.token_hex(6)}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # held while we write: no replayer reads a file still growing
        _fsync_dir(self.directory)  # the new file's name must survive a power cut too
        self._file = os.fdopen(fd, "ab")
        return self._file

    def seal(self) -> None:
        """Close this process's file: its entries become replayable; the next append starts a new one."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def files(self) -> list[Path]:
        """Every spool file in the folder, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))

    def replay(self, apply: Callable[[Entry], None]) -> int:
        """Apply every entry of every file nobody holds, deleting each file once done; entries applied.

        `apply` raises SpoolBlocked to stop (the database is down again); any other error sets that
        entry aside in rejected/ (logged by type only) so that one bad entry cannot block the rest.
        """
        self.seal()
        applied = 0
        for path in self.files():
            with _held(path) as file:
                if file is None:
                    continue
                for entry in _entries(file, path):
                    try:
                        apply(entry)
                    except SpoolBlocked:
                        return applied
                    except Exception as exc:  # noqa: BLE001 - kept for a person to look at, not lost
                        log.error("spool entry set aside in %s: %s", self.rejected, type(exc).__name__)
                        self._reject(entry)
                    applied += 1
                path.unlink()
        return applied

    def _reject(self, entry: Entry) -> None:
        self.rejected.mkdir(mode=0o700, exist_ok=True)
        with (self.rejected / "entries.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")


@contextmanager
def _held(path: Path) -> Iterator[IO[bytes] | None]:
    """The file opened and exclusively locked, or None if a writer or another replayer holds it."""
    try:
        file = path.open("rb")
    except FileNotFoundError:  # replayed and deleted by another worker meanwhile
        yield None
        return
    with file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        # Deleted between our open and our lock: another worker has replayed it already.
        yield file if os.fstat(file.fileno()).st_nlink > 0 else None


def _entries(file: IO[bytes], path: Path) -> Iterator[Entry]:
    for number, line in enumerate(file, start=1):
        if not line.endswith(b"\n"):
            # A writer killed mid-line: that message was never answered (the reply waits for the fsync).
            log.warning("spool %s: incomplete last line %d skipped", path.name, number)
            return
        try:
            yield json.loads(line)
        except ValueError:
            log.error("spool %s: line %d is not JSON; skipped", path.name, number)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
