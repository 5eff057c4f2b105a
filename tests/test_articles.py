"""knowledge.articles (+ headings): parsing, the source's defects, and validation that really fails."""

from __future__ import annotations

import dataclasses
import re

import pytest

from knowledge import Corpus
from knowledge.articles import Article, StatuteFormatError, parse_articles, split_paragraphs
from knowledge.headings import is_heading, normalise_title, split_trailing_headings
from knowledge.manifest import Division, load_manifest
from knowledge.sources import RawArticle, StatuteDB
from tests.fixtures.knowledge import CIVIL_CODE, CONSTITUTION, MEDIATION_LAW

# Where the source glues the next 编/分编 heading onto an article (per the statute-source note).
CIVIL_CODE_GLUED = {204, 239, 322, 385, 457, 462, 594, 978, 988, 1039, 1118, 1163, 1258}


@pytest.fixture(scope="module")
def civil_rows() -> tuple[RawArticle, ...]:
    with StatuteDB() as db:
        return db.read_law(CIVIL_CODE).rows


@pytest.fixture(scope="module")
def mediation_rows() -> list[RawArticle]:
    with StatuteDB() as db:
        return list(db.read_law(MEDIATION_LAW).rows)


def _renumber(row: RawArticle, number: int) -> RawArticle:
    return dataclasses.replace(
        row, article_no=Article(MEDIATION_LAW, number, ()).number_cn, article_no_arabic=number
    )


# --- headings and paragraphs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "第三分编 准合同",
        "第二编 物 权",
        "附 则",
        "附则",
        "第五章 调解协议",
        "第二节 监护",
        "第二编 立案、侦查和提起公诉",
    ],
)
def test_heading_lines_are_recognised(line: str) -> None:
    assert is_heading(line)


@pytest.mark.parametrize(
    "line",
    [
        "第五章规定的期间，依照本法确定。",  # a 款 that merely begins with a chapter reference
        "（一）重婚或者与他人同居；",
        "本法自2021年1月1日起施行。",
        "第一千零七十九条",
        "",
    ],
)
def test_ordinary_lines_are_not_headings(line: str) -> None:
    assert not is_heading(line)


def test_titles_are_normalised() -> None:
    assert normalise_title("第二编 物 权") == "第二编 物权"
    assert normalise_title("附 则") == "附则"
    assert normalise_title("第一分编  通 则") == "第一分编 通则"


def test_only_trailing_headings_are_split_off() -> None:
    body, glued = split_trailing_headings(["正文。", "第三编 合 同", "第一分编 通 则"])
    assert body == ["正文。"] and glued == ["第三编 合同", "第一分编 通则"]
    assert split_trailing_headings(["第一章 总则", "正文。"]) == (["第一章 总则", "正文。"], [])


def test_items_stay_in_their_paragraph() -> None:
    lines = ["有下列情形之一的：", "（一）甲；", "（二）乙。", "第二款。"]
    assert split_paragraphs(lines) == ("有下列情形之一的：\n（一）甲；\n（二）乙。", "第二款。")


# --- the real data -------------------------------------------------------------------------------


def test_default_laws_have_expected_counts(full_corpus: Corpus) -> None:
    counts = {law: sum(a.law == law for a in full_corpus.articles) for law in full_corpus.laws}
    expected = {e.name: e.articles for e in load_manifest().laws if e.name in counts}
    assert counts == expected == {CIVIL_CODE: 1260, CONSTITUTION: 143, MEDIATION_LAW: 35}


def test_no_heading_line_left_in_any_article(full_corpus: Corpus) -> None:
    leftovers = [a.key for a in full_corpus.articles for line in a.text.split("\n") if is_heading(line)]
    assert leftovers == []


def test_glued_headings_are_found_where_the_source_has_them(civil_rows: tuple[RawArticle, ...]) -> None:
    glued = {
        row.article_no_arabic
        for row in civil_rows
        if split_trailing_headings(row.article_text.split("\n"))[1]
    }
    assert glued == CIVIL_CODE_GLUED
    # ...and each opens the next article's 编 or 分编 in the manifest.
    starts = {d.first for d in load_manifest().entry(CIVIL_CODE).divisions}
    assert {n + 1 for n in glued} <= starts


def test_article_978_keeps_its_text_but_not_the_heading(civil_rows, full_corpus: Corpus) -> None:
    raw = next(r for r in civil_rows if r.article_no_arabic == 978)
    assert raw.article_text.endswith("第三分编 准合同")
    article = full_corpus.get("民法典", 978)
    assert not is_heading(article.paragraphs[-1])
    assert article.paragraphs[-1].endswith("规定进行分配。")
    assert raw.article_text.startswith(article.text)


def test_civil_code_paths_have_books(full_corpus: Corpus) -> None:
    assert full_corpus.get("民法典", 1079).path == ("第五编 婚姻家庭", "第四章 离婚")
    assert full_corpus.get("民法典", 979).path == ("第三编 合同", "第三分编 准合同", "第二十八章 无因管理")
    assert full_corpus.get("民法典", 205).path[:2] == ("第二编 物权", "第一分编 通则")
    assert full_corpus.get("民法典", 1067).path[-1] == "第二节 父母子女关系和其他近亲属关系"
    # 附则 has no 章: the source's carried-over "第十章 建筑物和物件损害责任" must not show.
    assert full_corpus.get("民法典", 1260).path == ("附则",)


def test_every_civil_code_article_is_in_the_book_its_number_says(full_corpus: Corpus) -> None:
    books = [d for d in load_manifest().entry(CIVIL_CODE).divisions if d.level == "编"]
    for article in (a for a in full_corpus.articles if a.law == CIVIL_CODE):
        book = [b for b in books if b.first <= article.number][-1]
        assert article.path[0] == book.title, article.key


def test_constitution_keeps_chapter_and_section(full_corpus: Corpus) -> None:
    assert full_corpus.get("宪法", 62).path == ("第三章 国家机构", "第一节 全国人民代表大会")


def test_paragraphs_of_1079(full_corpus: Corpus) -> None:
    article = full_corpus.get("民法典", 1079)
    assert len(article.paragraphs) == 5
    assert article.paragraphs[2].count("\n") == 5 and "（五）" in article.paragraphs[2]


# --- validation really fails ---------------------------------------------------------------------


def _parse(rows, **kwargs) -> list[Article]:
    return parse_articles(rows, law=MEDIATION_LAW, **kwargs)


def test_untouched_rows_parse(mediation_rows) -> None:
    assert len(_parse(mediation_rows, expected_count=35)) == 35


def test_a_space_between_chinese_characters_is_closed(mediation_rows) -> None:
    """未成年人保护法 95 reads "符合条 件" in the source; spaces next to digits or Latin letters stay."""
    rows = list(mediation_rows)
    rows[2] = dataclasses.replace(rows[2], article_text="符合条 件的申请人\u3000可以申请。\n第 2 款 ABC 照旧。")
    assert _parse(rows)[2].paragraphs == ("符合条件的申请人可以申请。", "第 2 款 ABC 照旧。")


def test_gap_is_reported_with_law_and_article(mediation_rows) -> None:
    with pytest.raises(StatuteFormatError) as caught:
        _parse(mediation_rows[:9] + mediation_rows[10:])
    assert caught.value.article_no == 10
    assert (
        MEDIATION_LAW in str(caught.value)
        and "第十条" in str(caught.value)
        and "missing" in str(caught.value)
    )


def test_duplicate_is_reported(mediation_rows) -> None:
    rows = mediation_rows[:10] + [_renumber(mediation_rows[10], 10)] + mediation_rows[11:]
    with pytest.raises(StatuteFormatError, match=rf"{MEDIATION_LAW} 第十条.*more than once"):
        _parse(rows)


def test_wrong_count_is_reported(mediation_rows) -> None:
    with pytest.raises(StatuteFormatError, match=rf"{MEDIATION_LAW}.*35 articles.*expects 36"):
        _parse(mediation_rows, expected_count=36)
    with pytest.raises(StatuteFormatError, match="34 articles.*expects 35"):
        _parse(mediation_rows[:-1], expected_count=35)


def test_heading_left_inside_text_is_reported(mediation_rows) -> None:
    row = mediation_rows[6]
    rows = list(mediation_rows)
    rows[6] = dataclasses.replace(row, article_text=f"{row.article_text}\n第三章 人民调解员\n多出来的一款。")
    with pytest.raises(StatuteFormatError, match=rf"{MEDIATION_LAW} 第七条.*第三章 人民调解员"):
        _parse(rows)


def test_article_that_is_only_a_heading_is_reported(mediation_rows) -> None:
    rows = list(mediation_rows)
    rows[4] = dataclasses.replace(rows[4], article_text="第二章 人民调解委员会")
    with pytest.raises(StatuteFormatError, match=rf"{MEDIATION_LAW} 第五条.*no text"):
        _parse(rows)


def test_chinese_number_must_agree_with_arabic(mediation_rows) -> None:
    rows = list(mediation_rows)
    rows[2] = dataclasses.replace(rows[2], article_no="第八条")
    with pytest.raises(StatuteFormatError, match=re.escape("第三条 (article 3): article_no '第八条'")):
        _parse(rows)


def test_row_of_another_law_is_reported(mediation_rows) -> None:
    rows = list(mediation_rows)
    rows[1] = dataclasses.replace(rows[1], law_name=CONSTITUTION)
    with pytest.raises(StatuteFormatError, match="another law"):
        _parse(rows)


def test_glued_heading_must_agree_with_manifest_ranges(mediation_rows) -> None:
    rows = list(mediation_rows)
    rows[9] = dataclasses.replace(rows[9], article_text=rows[9].article_text + "\n第二编 调 解")
    divisions = (Division("编", "第一编 总则", 1), Division("编", "第二编 调解", 12))
    with pytest.raises(StatuteFormatError, match=rf"{MEDIATION_LAW} 第十条.*第二编 调解.*laws.json"):
        _parse(rows, divisions=divisions)
    fixed = (Division("编", "第一编 总则", 1), Division("编", "第二编 调解", 11))
    articles = _parse(rows, divisions=fixed)
    assert articles[9].text == mediation_rows[9].article_text
    assert articles[10].path[0] == "第二编 调解"


def test_no_rows_is_reported() -> None:
    with pytest.raises(StatuteFormatError, match=rf"{MEDIATION_LAW}.*no article rows"):
        _parse([])
