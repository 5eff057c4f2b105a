"""Articles: one 条 of a law (or one numbered item of a local rule), validated.

SHARED TYPE — other packages depend on the fields below; extend, don't rename.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from knowledge.headings import is_heading, normalise_title, split_trailing_headings
from knowledge.law_names import short_law_name
from knowledge.numerals import from_chinese_numeral, to_chinese_numeral

if TYPE_CHECKING:
    from knowledge.manifest import Division
    from knowledge.sources import RawArticle


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Article:
    law: str  # full name as in the source, e.g. 中华人民共和国民法典
    number: int  # 1079
    paragraphs: tuple[str, ...]  # 款; 项 lines stay inside their 款, joined by "\n"
    path: tuple[str, ...] = ()  # 编 / 分编 / 章 / 节 titles, outermost first
    kind: str = "statute"  # "statute" or "local" (村规民约 and other local documents)

    @property
    def short_law(self) -> str:
        """民法典 for 中华人民共和国民法典; local documents keep their name."""
        return short_law_name(self.law)

    @property
    def number_cn(self) -> str:
        """第一千零七十九条."""
        return f"第{to_chinese_numeral(self.number)}条"

    @property
    def key(self) -> str:
        """Stable identity of the article across builds: 中华人民共和国民法典:1079."""
        return f"{self.law}:{self.number}"

    @property
    def citation(self) -> str:
        """《中华人民共和国民法典》第一千零七十九条."""
        return f"《{self.law}》{self.number_cn}"

    @property
    def short_citation(self) -> str:
        """《民法典》第一千零七十九条 — what replies to villagers use."""
        return f"《{self.short_law}》{self.number_cn}"

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)

    @property
    def header(self) -> str:
        """民法典 第五编 婚姻家庭 第四章 离婚 第一千零七十九条 — where the article sits, on one line."""
        return " ".join((self.short_law, *self.path, self.number_cn))


class StatuteFormatError(ValueError):
    """The source text of a law breaks an invariant the corpus relies on."""

    def __init__(self, law: str, article_no: int | None, reason: str) -> None:
        self.law, self.article_no, self.reason = law, article_no, reason
        if article_no is None:
            where = "(whole law)"
        elif 0 < article_no < 10000:
            where = f"第{to_chinese_numeral(article_no)}条 (article {article_no})"
        else:
            where = f"article {article_no}"
        super().__init__(f"{law} {where}: {reason}")


_ITEM = re.compile(r"^[（(][一二三四五六七八九十]+[)）]")
# A space between two Chinese characters is a typesetting slip in the source (未成年人保护法 95: "符合条 件").
_HAN_GAP = re.compile(r"(?<=[\u4e00-\u9fff])[ \u3000\u00a0]+(?=[\u4e00-\u9fff])")
_ARTICLE_NO = re.compile(r"^第(.+)条$")


def split_paragraphs(lines: Sequence[str]) -> tuple[str, ...]:
    """Group lines into 款: a 项 line (（一）…) belongs to the 款 before it."""
    paragraphs: list[str] = []
    for line in lines:
        if paragraphs and _ITEM.match(line):
            paragraphs[-1] += "\n" + line
        else:
            paragraphs.append(line)
    return tuple(paragraphs)


def check_numbering(law: str, numbers: Sequence[int], expected_count: int | None = None) -> None:
    """Numbers must run 1..N in order, without gaps or repeats, and N must match the expected count."""
    seen: set[int] = set()
    for index, number in enumerate(numbers):
        if number in seen:
            raise StatuteFormatError(law, number, "appears more than once")
        seen.add(number)
        if number != index + 1:
            after = f"article {numbers[index - 1]}" if index else "the start"
            reason = f"is missing: {after} is followed by article {number}"
            raise StatuteFormatError(law, index + 1, reason)
    if expected_count is not None and len(numbers) != expected_count:
        reason = f"has {len(numbers)} articles but knowledge/data/laws.json expects {expected_count}"
        raise StatuteFormatError(law, None, reason)


def parse_articles(
    raw_rows: Sequence[RawArticle],
    *,
    law: str,
    expected_count: int | None = None,
    divisions: Sequence[Division] = (),
) -> list[Article]:
    """Turn a law's source rows (in source order) into validated Articles; raise StatuteFormatError."""
    if not raw_rows:
        raise StatuteFormatError(law, None, "has no article rows in the source")
    for row in raw_rows:
        _check_row_identity(law, row)
    check_numbering(law, [row.article_no_arabic for row in raw_rows], expected_count)
    paths = _paths(raw_rows, divisions)
    articles, stripped = [], 0
    for index, row in enumerate(raw_rows):
        lines = [line.strip() for line in row.article_text.split("\n") if line.strip()]
        body, glued = split_trailing_headings(lines)
        next_path = paths[index + 1] if index + 1 < len(paths) else ()
        _check_body(law, row.article_no_arabic, body, glued, next_path, check_glued=bool(divisions))
        stripped += len(glued)
        body = [_HAN_GAP.sub("", line) for line in body]
        articles.append(Article(law, row.article_no_arabic, split_paragraphs(body), paths[index]))
    log.debug("%s: %d articles, %d glued headings stripped", law, len(articles), stripped)
    return articles


def _check_row_identity(law: str, row: RawArticle) -> None:
    number = row.article_no_arabic
    if row.law_name != law:
        raise StatuteFormatError(law, number, f"row belongs to another law, {row.law_name!r}")
    match = _ARTICLE_NO.match(row.article_no.strip())
    try:
        agrees = match is not None and from_chinese_numeral(match.group(1)) == number
    except ValueError:
        agrees = False
    if not agrees:
        raise StatuteFormatError(law, number, f"article_no {row.article_no!r} disagrees with number {number}")


def _check_body(
    law: str, number: int, body: list[str], glued: list[str], next_path: tuple[str, ...], *, check_glued: bool
) -> None:
    if not body:
        raise StatuteFormatError(law, number, "has no text (empty, or only heading lines)")
    leftover = next((line for line in body if is_heading(line)), None)
    if leftover is not None:
        raise StatuteFormatError(law, number, f"contains the heading line {leftover!r} inside its text")
    # A heading glued onto article n opens article n+1; if the manifest's ranges disagree, one is wrong.
    stray = [title for title in glued if title not in next_path] if check_glued else []
    if stray:
        reason = f"ends with heading {stray[0]!r}, but the next article's path is {next_path}; fix laws.json"
        raise StatuteFormatError(law, number, reason)


def _paths(rows: Sequence[RawArticle], divisions: Sequence[Division]) -> list[tuple[str, ...]]:
    """(编, 分编, 章, 节) titles per row: divisions by range, 章/节 from the columns unless stale."""
    paths: list[tuple[str, ...]] = []
    run_start = 0
    for index, row in enumerate(rows):
        if index == 0 or row.chapter != rows[index - 1].chapter:
            run_start = row.article_no_arabic
        outer, boundary = _divisions_of(row.article_no_arabic, divisions)
        # The source carries a 章 over into a 编 that has none (民法典 附则 keeps 侵权责任's 第十章);
        # a 章 can't begin before its 编, so such a run is stale.
        inner = (row.chapter, row.section) if run_start >= boundary else ()
        paths.append(outer + tuple(normalise_title(t) for t in inner if t))
    return paths


def _divisions_of(number: int, divisions: Sequence[Division]) -> tuple[tuple[str, ...], int]:
    """The 编 (and 分编) containing article `number`, and the first article of the innermost one."""
    book = max((d for d in divisions if d.level == "编" and d.first <= number), key=_first, default=None)
    if book is None:
        return (), 0
    parts = (d for d in divisions if d.level == "分编" and book.first <= d.first <= number)
    part = max(parts, key=_first, default=None)
    return (book.title, part.title) if part else (book.title,), (part or book).first


def _first(division: Division) -> int:
    return division.first
