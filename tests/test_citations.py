from __future__ import annotations

import pytest

from knowledge.citations import find_citations

LAWS = ("中华人民共和国民法典", "中华人民共和国宪法", "中华人民共和国人民调解法")
CIVIL = "中华人民共和国民法典"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("《民法典》第1079条怎么说", [(CIVIL, 1079)]),
        ("民法典第一千零七十九条", [(CIVIL, 1079)]),
        ("《中华人民共和国民法典》第六百七十五条", [(CIVIL, 675)]),
        ("第1079条", [(CIVIL, 1079)]),
        ("1079条是啥", [(CIVIL, 1079)]),
        ("第１０７９条", [(CIVIL, 1079)]),
        ("宪法第三十三条和人民调解法第31条", [("中华人民共和国宪法", 33), ("中华人民共和国人民调解法", 31)]),
        ("民法典第十条，又问第十条", [(CIVIL, 10)]),
        ("我家3条狗被偷了", []),
        ("借了他5000条烟的钱", []),
    ],
)
def test_find_citations(text: str, expected: list[tuple[str, int]]) -> None:
    assert find_citations(text, LAWS, default_law=CIVIL) == expected


def test_bare_numbers_need_a_default_law() -> None:
    assert find_citations("第1079条", LAWS, default_law=None) == []
    assert find_citations("宪法第1条", LAWS, default_law=None) == [("中华人民共和国宪法", 1)]
