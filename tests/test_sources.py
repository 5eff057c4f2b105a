"""knowledge.sources: the pinned laws.db, read-only access, version choice, manifest checks."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from knowledge.articles import parse_articles
from knowledge.headings import is_heading
from knowledge.manifest import load_manifest
from knowledge.sources import (
    SourceError,
    StatusOverride,
    StatuteDB,
    bundled_db_path,
    file_sha256,
    load_status_overrides,
)
from tests.fixtures.knowledge import copy_statute_db

MEDIATION_ID = "f06ac4e668e0"


def test_bundled_db_is_the_one_the_manifest_pins() -> None:
    with StatuteDB() as db:
        assert db.path == bundled_db_path()
        assert db.sha256 == load_manifest().source_sha256 == file_sha256(bundled_db_path())


def test_db_is_opened_read_only() -> None:
    with StatuteDB() as db, pytest.raises(sqlite3.OperationalError, match="readonly"):
        db._db.execute("DELETE FROM laws")


def test_other_file_is_refused_naming_both_hashes(tmp_path: Path) -> None:
    path = copy_statute_db(tmp_path / "laws.db", [MEDIATION_ID])
    with pytest.raises(SourceError) as caught:
        StatuteDB(path)
    message = str(caught.value)
    assert file_sha256(path) in message and load_manifest().source_sha256 in message


def test_other_file_is_accepted_with_override(tmp_path: Path) -> None:
    path = copy_statute_db(tmp_path / "laws.db", [MEDIATION_ID])
    with StatuteDB(path, expected_sha256=None) as db:
        assert len(db.read_law("人民调解法").rows) == 35
    with StatuteDB(path, expected_sha256=file_sha256(path)) as db:
        assert db.sha256 == file_sha256(path)


@pytest.mark.parametrize("entry", load_manifest().laws, ids=lambda e: e.name)
def test_manifest_entry_matches_database(entry) -> None:
    """Each human-checked pin (law_id, version date, article count) holds in the real file."""
    with StatuteDB() as db:
        raw = db.read_law(entry.name)
    assert (raw.law_id, raw.version_date, raw.name) == (entry.law_id, entry.version_date, entry.name)
    articles = parse_articles(
        raw.rows, law=raw.name, expected_count=entry.articles, divisions=entry.divisions
    )
    assert [a.number for a in articles] == list(range(1, entry.articles + 1))


def test_pinned_law_is_read_and_its_status_corrected() -> None:
    with StatuteDB() as db:
        raw = db.read_law("农村土地承包法")
        source_status = db._db.execute("SELECT status FROM laws WHERE law_id = ?", (raw.law_id,)).fetchone()[0]
    assert source_status == "已废止"  # wrong in the source
    assert raw.status == "现行有效"  # corrected by knowledge/data/status_overrides.json
    assert raw.law_id == "73d7adef5eaf" and len(raw.rows) == 70


def test_every_shipped_override_names_a_version_the_source_holds() -> None:
    overrides = load_status_overrides()
    assert overrides and all(o.reason for o in overrides)
    with StatuteDB() as db:
        db.check_overrides()


def test_override_for_a_law_the_source_lacks_is_refused(tmp_path: Path) -> None:
    path = copy_statute_db(tmp_path / "laws.db", [MEDIATION_ID])
    with StatuteDB(path, expected_sha256=None) as db, pytest.raises(SourceError, match="73d7adef5eaf"):
        db.check_overrides()  # the shipped override names 农村土地承包法, absent from this copy
    renamed = StatusOverride(MEDIATION_ID, "中华人民共和国调解法", "2010-08-28", "现行有效", "test")
    with StatuteDB(path, expected_sha256=None, overrides=[renamed]) as db:
        with pytest.raises(SourceError, match="中华人民共和国调解法"):
            db.check_overrides()


def test_override_makes_an_unpinned_version_current(tmp_path: Path) -> None:
    path = copy_statute_db(tmp_path / "laws.db", [MEDIATION_ID])
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE laws SET status = '已废止'")
    no_pins = dataclasses.replace(load_manifest(), laws=())
    fix = StatusOverride(MEDIATION_ID, "中华人民共和国人民调解法", "2010-08-28", "现行有效", "test")
    with StatuteDB(path, expected_sha256=None, manifest=no_pins, overrides=[fix]) as db:
        raw = db.read_law("人民调解法")
    assert (raw.law_id, raw.status) == (MEDIATION_ID, "现行有效")


def test_short_and_bracketed_names_find_the_pin() -> None:
    with StatuteDB() as db:
        assert db.read_law("《宪法》").law_id == db.read_law("中华人民共和国宪法").law_id == "e47f0130677c"


def test_unpinned_law_uses_current_version_and_still_parses() -> None:
    with StatuteDB() as db:
        raw = db.read_law("中华人民共和国刑事诉讼法")
    assert raw.entry is None and raw.status == "现行有效"
    articles = parse_articles(raw.rows, law=raw.name)
    assert [a.number for a in articles] == list(range(1, len(raw.rows) + 1))
    assert not any(is_heading(line) for a in articles for line in a.text.split("\n"))


def _add_version(path: Path, law_id: str, new_id: str, version_date: str, status: str) -> None:
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO laws SELECT ?, law_name, doc_type, level, issuing_body, publish_date, effective_date,"
        " ?, ?, law_department FROM laws WHERE law_id = ?",
        (new_id, version_date, status, law_id),
    )
    db.execute(
        "INSERT INTO articles (law_id, law_name, law_department, level, status, chapter, section, article_no,"
        " article_no_arabic, article_text, char_count) SELECT ?, law_name, law_department, level, ?, chapter,"
        " section, article_no, article_no_arabic, article_text || '（' || ? || '）', char_count"
        " FROM articles WHERE law_id = ?",
        (new_id, status, version_date, law_id),
    )
    db.commit()
    db.close()


def test_unpinned_law_takes_newest_current_version(tmp_path: Path) -> None:
    path = copy_statute_db(tmp_path / "laws.db", [MEDIATION_ID])
    _add_version(path, MEDIATION_ID, "newer0000001", "2015-01-01", "现行有效")
    _add_version(path, MEDIATION_ID, "newest000002", "2020-01-01", "已废止")
    no_pins = dataclasses.replace(load_manifest(), laws=())
    with StatuteDB(path, expected_sha256=None, manifest=no_pins) as db:
        raw = db.read_law("人民调解法")
    assert (raw.law_id, raw.version_date) == ("newer0000001", "2015-01-01")
    assert raw.rows[0].article_text.endswith("（2015-01-01）")


def test_unpinned_law_without_current_version_is_refused(tmp_path: Path) -> None:
    path = copy_statute_db(tmp_path / "laws.db", [MEDIATION_ID])
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE laws SET status = '已废止'")
    no_pins = dataclasses.replace(load_manifest(), laws=())
    with (
        StatuteDB(path, expected_sha256=None, manifest=no_pins) as db,
        pytest.raises(SourceError, match="现行有效"),
    ):
        db.read_law("人民调解法")


def test_unknown_law_is_refused() -> None:
    with StatuteDB() as db, pytest.raises(SourceError, match="不存在的法"):
        db.read_law("不存在的法")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("劳动和同法", "中华人民共和国劳动合同法"), ("老年人权益保护法", "中华人民共和国老年人权益保障法"),
     ("中华人民共和国交通安全法", "中华人民共和国道路交通安全法"), ("村委会组织法", "中华人民共和国村民委员会组织法")],
)  # fmt: skip
def test_misspelt_law_is_refused_with_the_closest_names(typed: str, meant: str) -> None:
    with StatuteDB() as db, pytest.raises(SourceError, match="closest names") as caught:
        db.read_law(typed)
    assert meant in str(caught.value)


def test_law_only_repealed_is_refused_with_names_in_force() -> None:
    with StatuteDB() as db, pytest.raises(SourceError, match="现行有效") as caught:
        db.read_law("刑法")  # laws.db holds only versions marked 已被修改
    assert "closest names in force" in str(caught.value) and "status_overrides.json" in str(caught.value)


def test_pin_that_disagrees_with_database_is_refused() -> None:
    manifest = load_manifest()
    wrong = [
        dataclasses.replace(e, version_date="1999-01-01") if e.name.endswith("宪法") else e
        for e in manifest.laws
    ]
    with StatuteDB(manifest=dataclasses.replace(manifest, laws=tuple(wrong))) as db:
        with pytest.raises(SourceError, match="e47f0130677c"):
            db.read_law("宪法")
