"""Article citations in free text: 《民法典》第1079条, 民法典第一千零七十九条, 第1079条, 1079条."""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.law_names import LAW_PREFIX
from knowledge.numerals import from_chinese_numeral

_NUMBER = r"[0-9０-９]{1,4}|[零一二两三四五六七八九十百千]{1,12}"
# "1079条" without 第 or a law name counts only when followed by words that talk about an article,
# so "3条狗" or "5000条烟" are not read as citations.
_AFTER_BARE = r"$|[\s，。,.？?！!、）)]|规定|说|讲|是|怎么|写|内容|的规定|的内容|里"
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _citation_pattern(short_names: Iterable[str]) -> re.Pattern[str]:
    names = "|".join(sorted((re.escape(n) for n in short_names), key=len, reverse=True))
    law = rf"(?:《?(?:{re.escape(LAW_PREFIX)})?(?P<law>{names})》?)" if names else "(?P<law>(?!))"
    # 第 is optional only after a law name or before a bare Arabic number ("1079条").
    return re.compile(
        rf"(?:{law}\s*第?\s*(?P<n1>{_NUMBER})\s*条|第\s*(?P<n2>{_NUMBER})\s*条|(?<![0-9])(?P<n3>[0-9]{{1,4}})\s*条(?={_AFTER_BARE}))"
    )


def find_citations(text: str, laws: Iterable[str], default_law: str | None = None) -> list[tuple[str, int]]:
    """(full law name, article number) for every citation in text, in order, without repeats.

    `laws` are the full names in the corpus; a number cited without a law belongs to `default_law`
    (skipped when that is None).
    """
    by_short = {name.removeprefix(LAW_PREFIX) or name: name for name in laws}
    found: list[tuple[str, int]] = []
    for m in _citation_pattern(by_short).finditer(text):
        raw = m.group("n1") or m.group("n2") or m.group("n3")
        law = by_short[m.group("law")] if m.group("law") else default_law
        if law is None:
            continue
        try:
            number = from_chinese_numeral(raw.translate(_FULLWIDTH_DIGITS))
        except ValueError:
            continue
        if (law, number) not in found and number > 0:
            found.append((law, number))
    return found
