"""Topic guides: 1–3 practical tips per category, each resting on a cited article (bot/data/guides.json).

Beside them, `article_tips`: what one article of a law of village life means, in a plain sentence. They are
not a topic's guide (the menu never shows them): a reply shows one only when it quotes its article, so a
deployment without that law never does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from bot.answers.topics import CATEGORIES
from knowledge.numerals import to_chinese_numeral


class GuidesDataError(ValueError):
    """bot/data/guides.json is malformed."""


@dataclass(frozen=True, slots=True)
class Tip:
    text: str  # 保留借条、转账记录……
    law: str  # short or full law name, as corpus.get accepts it
    number: int

    @property
    def citation(self) -> str:
        """《人民调解法》第三十一条 — built without the corpus, for fixed replies."""
        return f"《{self.law}》第{to_chinese_numeral(self.number)}条"


@cache
def guides() -> dict[str, tuple[Tip, ...]]:
    """Every category's tips, loaded once."""
    entries = _raw().get("guides", {})
    missing = [c for c in CATEGORIES if not 1 <= len(entries.get(c, ())) <= 3]
    if missing:
        raise GuidesDataError(f"guides.json needs 1-3 tips for each category; fix: {missing}")
    return {c: tuple(_tip(t) for t in entries[c]) for c in CATEGORIES}


@cache
def article_tips() -> tuple[Tip, ...]:
    """The plain meaning of single articles of the laws of village life, loaded once."""
    return tuple(_tip(t) for t in _raw().get("article_tips", []))


@cache
def _raw() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((resources.files("bot") / "data" / "guides.json").read_text(encoding="utf-8"))
    return raw


def _tip(entry: dict[str, Any]) -> Tip:
    try:
        return Tip(str(entry["tip"]), str(entry["law"]), int(entry["number"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise GuidesDataError(f"guides.json: a tip needs tip, law and number: {entry!r}") from exc


def guide(category: str) -> tuple[Tip, ...]:
    """The tips for one category."""
    return guides()[category]


def advice_line(tips: list[tuple[str, str]]) -> str:
    """建议：tip（citation）；tip（citation）。 from (text, citation) pairs; empty when there are none."""
    if not tips:
        return ""
    return "建议：" + "；".join(f"{text}（{citation}）" for text, citation in tips) + "。"
