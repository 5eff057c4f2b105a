"""knowledge.corpus: loading, lookups by law name, checksum, subsets, and the shared fixtures."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from bot.settings import Settings
from knowledge import (
    DEFAULT_LAWS,
    MISSION_LAWS,
    TOWNSHIP_LAWS,
    Corpus,
    CorpusError,
    SourceError,
    StatuteFormatError,
    load_corpus,
    load_manifest,
)
from knowledge.headings import is_heading
from tests.fixtures.knowledge import (
    CIVIL_CODE,
    CONSTITUTION,
    MEDIATION_LAW,
    MINI_CIVIL_CODE,
    MINI_CONSTITUTION,
    copy_statute_db,
)


def test_the_mission_laws_load_whole() -> None:
    corpus = load_corpus(MISSION_LAWS)
    assert corpus.laws == MISSION_LAWS and len(corpus) == 1260 + 143 + 35


@pytest.mark.parametrize(
    "name", ["中华人民共和国民法典", "民法典", "《民法典》", "《中华人民共和国民法典》", " 民法典 "]
)
def test_law_names_resolve(full_corpus: Corpus, name: str) -> None:
    assert full_corpus.resolve_law(name) == CIVIL_CODE
    assert full_corpus.get(name, 1079).key == f"{CIVIL_CODE}:1079"


def test_missing_things_are_none(full_corpus: Corpus) -> None:
    assert full_corpus.resolve_law("刑法") is None
    assert full_corpus.get("刑法", 1) is None
    assert full_corpus.get("宪法", 144) is None
    assert full_corpus.get("人民调解法", 0) is None


def test_checksum_is_stable_and_order_independent(mini_corpus: Corpus) -> None:
    reordered = Corpus(tuple(reversed(mini_corpus.articles)), mini_corpus.source_sha256)
    assert reordered.checksum == mini_corpus.checksum
    assert len(mini_corpus.checksum) == 64 and int(mini_corpus.checksum, 16) >= 0
    assert mini_corpus.subset(lambda a: True).checksum == mini_corpus.checksum


def test_checksum_changes_with_text_or_path(mini_corpus: Corpus) -> None:
    first, *rest = mini_corpus.articles
    edited = dataclasses.replace(first, paragraphs=(*first.paragraphs[:-1], first.paragraphs[-1] + "。"))
    moved = dataclasses.replace(first, path=("第九章 别处",))
    checksums = {Corpus((a, *rest), mini_corpus.source_sha256).checksum for a in (first, edited, moved)}
    assert len(checksums) == 3


def test_subset_by_keys_and_predicate(full_corpus: Corpus) -> None:
    small = full_corpus.subset([f"{CONSTITUTION}:33", f"{CIVIL_CODE}:1079"])
    assert [a.key for a in small.articles] == [f"{CIVIL_CODE}:1079", f"{CONSTITUTION}:33"]  # corpus order
    assert small.source_sha256 == full_corpus.source_sha256
    mediation = full_corpus.subset(lambda a: a.law == MEDIATION_LAW)
    assert mediation.laws == (MEDIATION_LAW,) and len(mediation) == 35
    with pytest.raises(CorpusError, match="宪法:999"):
        full_corpus.subset([f"{CONSTITUTION}:999"])


def test_repeated_article_is_refused(mini_corpus: Corpus) -> None:
    with pytest.raises(CorpusError, match="occurs twice"):
        Corpus(mini_corpus.articles + mini_corpus.articles[:1], "x")
    with pytest.raises(CorpusError):
        load_corpus(["民法典", "中华人民共和国民法典"])


def test_mini_corpus_spreads_over_every_book(mini_corpus: Corpus) -> None:
    civil = [a for a in mini_corpus.articles if a.law == CIVIL_CODE]
    assert [a.number for a in civil] == list(MINI_CIVIL_CODE)
    assert {a.path[0] for a in civil} == {
        "第一编 总则", "第二编 物权", "第三编 合同", "第四编 人格权",
        "第五编 婚姻家庭", "第六编 继承", "第七编 侵权责任", "附则",
    }  # fmt: skip
    assert [a.number for a in mini_corpus.articles if a.law == CONSTITUTION] == list(MINI_CONSTITUTION)
    assert sum(a.law == MEDIATION_LAW for a in mini_corpus.articles) == 35


def test_local_documents_join_the_corpus(tmp_path: Path) -> None:
    (tmp_path / "rules.txt").write_text(
        "东山村村规民约\n第一条 爱护公物。\n第二条 邻里和睦。\n", encoding="utf-8"
    )
    corpus = load_corpus(["人民调解法"], local_dir=tmp_path)
    assert corpus.laws == (MEDIATION_LAW, "东山村村规民约")
    assert corpus.get("《东山村村规民约》", 2).text == "邻里和睦。"
    assert corpus.get("东山村村规民约", 2).kind == "local"


def test_unexpected_database_is_refused(tmp_path: Path) -> None:
    path = copy_statute_db(tmp_path / "laws.db", ["f06ac4e668e0"])
    with pytest.raises(SourceError, match="expected 74ec9d12"):
        load_corpus(["人民调解法"], db_path=path)
    assert len(load_corpus(["人民调解法"], db_path=path, expected_sha256=None)) == 35


def test_doctored_database_fails_validation(tmp_path: Path) -> None:
    path = copy_statute_db(tmp_path / "laws.db", ["f06ac4e668e0"])
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("DELETE FROM articles WHERE article_no_arabic = 20")
    with pytest.raises(StatuteFormatError, match=f"{MEDIATION_LAW} 第二十条.*missing"):
        load_corpus(["人民调解法"], db_path=path, expected_sha256=None)


# --- the laws of village life (issue 23) ---------------------------------------------------------


def test_village_sample_loads_with_the_status_correction(village_sample_db: Path) -> None:
    """A small cut of laws.db: the repealed-marked 农村土地承包法 is read (pinned, status corrected)."""
    corpus = load_corpus(["反家庭暴力法", "农村土地承包法", "人民调解法"], db_path=village_sample_db,
                         expected_sha256=None)  # fmt: skip
    assert [len([a for a in corpus.articles if a.law == law]) for law in corpus.laws] == [38, 70, 35]
    assert corpus.get("反家庭暴力法", 23).path == ("第四章 人身安全保护令",)
    assert corpus.get("农村土地承包法", 31) is not None  # 外嫁女: the contract land stays hers
    assert corpus.resolve_law("《农村土地承包法》") == "中华人民共和国农村土地承包法"


def test_short_names_of_the_township_laws_are_unambiguous() -> None:
    short = [name.removeprefix("中华人民共和国") for name in TOWNSHIP_LAWS]
    assert len(set(short)) == len(TOWNSHIP_LAWS) == 19
    assert TOWNSHIP_LAWS[:3] == MISSION_LAWS and DEFAULT_LAWS == TOWNSHIP_LAWS == Settings.model_fields["laws"].default


@pytest.mark.corpus
def test_every_township_law_loads_pinned_and_clean() -> None:
    """Every default law of a township deployment: pinned in laws.json, all articles, no heading or stray
    space left in any text."""
    corpus = load_corpus(TOWNSHIP_LAWS)
    manifest = load_manifest()
    assert corpus.laws == TOWNSHIP_LAWS
    for law in TOWNSHIP_LAWS:
        entry = manifest.entry(law)
        assert entry is not None, f"{law} is not pinned in knowledge/data/laws.json"
        numbers = [a.number for a in corpus.articles if a.law == law]
        assert numbers == list(range(1, entry.articles + 1)), law
    assert len(corpus) == 2798
    for article in corpus.articles:
        assert article.path, article.key
        assert not any(is_heading(line) for line in article.text.split("\n")), article.key
        assert not re.search(r"[\u4e00-\u9fff] +[\u4e00-\u9fff]", article.text), article.key
    assert "符合条件的申请人" in corpus.get("未成年人保护法", 95).text  # "符合条 件" in the source
