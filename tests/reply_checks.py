"""Checks every test of a reply text shares: citations that exist, no Markdown, the byte limit."""

from __future__ import annotations

import re

from bot.answers.composer import MAX_REPLY_BYTES, Township
from knowledge.corpus import Corpus
from knowledge.numerals import from_chinese_numeral

CITATION = re.compile(r"《([^《》]+)》\s*第\s*([0-9零一二两三四五六七八九十百千]+)\s*条")
MARKDOWN = ("**", "```", "`", "#", "__", "~~", "](")

# Deliberately unlike the Settings defaults, so a hard-coded township name would show.
TOWNSHIP = Township(
    name="青山镇",
    bot_name="法治小助手",
    mediation_contact="青山镇人民调解委员会（镇政府二楼，电话 0000-1234567）",
    legal_adviser_contact="王律师（每周五下午在镇司法所）",
    hotline="12348",
)


def cited_articles(text: str, corpus: Corpus) -> list[tuple[str, int]]:
    """Every 《law》第N条 in text as (law, number); fails if one is not in the corpus.

    A bare 《…》 is no citation: statutes themselves name works and repealed laws (《义勇军进行曲》)."""
    found = [(law, from_chinese_numeral(number)) for law, number in CITATION.findall(text)]
    missing = [ref for ref in found if corpus.get(*ref) is None]
    assert not missing, f"reply cites articles that are not in the corpus: {missing}"
    return found


def assert_sendable(text: str) -> None:
    """Fits WeChat's limit and has no Markdown."""
    assert len(text.encode("utf-8")) <= MAX_REPLY_BYTES
    assert text.strip(), "empty reply"
    leftovers = [mark for mark in MARKDOWN if mark in text]
    assert not leftovers, f"Markdown {leftovers} in reply: {text}"
