from __future__ import annotations

import pytest

from indexing.query import default_lexicon, expand_question, parse_lexicon, strip_filler


def test_greetings_and_filler_are_dropped() -> None:
    assert strip_filler("你好，请问一下，俺家狗咬了人咋办？谢谢") == "俺家狗咬了人咋办？"
    assert strip_filler("  老师您好  借钱不还  ") == "借钱不还"
    assert strip_filler("你好") == "你好", "a message that is only a greeting stays as it is"


def test_everyday_words_bring_in_the_statutes_terms() -> None:
    expanded = expand_question("我爸妈老了，哥哥不给养老钱怎么办")
    assert expanded.startswith("我爸妈老了，哥哥不给养老钱怎么办 ")
    assert {"赡养费", "父母"} <= set(expanded.split()[1:])


def test_terms_already_in_the_question_are_not_repeated() -> None:
    lexicon = parse_lexicon("狗\t饲养的动物 狗\n狗咬\t损害\n")
    assert expand_question("狗咬了饲养的动物", lexicon) == "狗咬了饲养的动物 损害"
    assert lexicon.terms_for("狗咬人") == ["损害", "饲养的动物"]  # longest word first, each term once


def test_a_question_without_everyday_legal_words_is_left_alone() -> None:
    assert expand_question("今天天气") == "今天天气"


def test_every_shipped_entry_is_well_formed() -> None:
    lexicon = default_lexicon()
    assert len(lexicon.entries) > 150
    assert all(word and terms for word, terms in lexicon.entries)
    assert len({word for word, _ in lexicon.entries}) == len(lexicon.entries), "duplicate lexicon words"


@pytest.mark.parametrize("line", ["借钱", "借钱\t", "\t借款"])
def test_malformed_lexicon_lines_are_named(line: str) -> None:
    with pytest.raises(ValueError, match="lexicon line 2"):
        parse_lexicon("# comment\n" + line + "\n")
