"""Topic categories: which of the 15 statistics categories a question belongs to, and its plain words.

The category comes from the best articles' 编/章/节 titles plus everyday words in the question, both kept
as data in bot/data/topics.json so volunteers can improve them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from knowledge.articles import Article

if TYPE_CHECKING:
    from indexing.retrieval import Hit

CATEGORIES = (
    "婚姻家庭",
    "赡养抚养",
    "继承",
    "借贷欠款",
    "合同买卖",
    "房屋宅基地",
    "土地承包",
    "邻里纠纷",
    "人身损害赔偿",
    "劳动报酬（工钱）",
    "消费维权",
    "人格权（名誉、隐私）",
    "宪法与公民权利",
    "调解程序",
    "其他",
)
OTHER = "其他"

# How much each of the top articles counts, by rank; one matching everyday word counts 1.0.
_RANK_WEIGHTS = (1.0, 0.6, 0.4)
# 第三编 / 第二分编 / 第十二章 / 第一节 — the numbering in front of a division title.
_DIVISION_PREFIX = re.compile(r"^第[零一二三四五六七八九十百千0-9]+(?:分编|编|章|节)\s*")
# Titles that say nothing to a villager; the phrase falls back to an outer title.
_GENERIC_TITLES = frozenset({"一般规定", "通则", "总则", "附则", "基本规定", "基本原则", "其他规定", "总纲"})


class TopicsDataError(ValueError):
    """bot/data/topics.json is malformed."""


@dataclass(frozen=True, slots=True)
class Topic:
    category: str
    label: str  # plain words for the reply's first line: 借钱不还
    paths: tuple[str, ...]
    keywords: tuple[str, ...]
    example: str  # a question to suggest when nothing was found
    laws: tuple[str, ...] = ()  # short names of whole laws in this category (劳动合同法), checked before paths


@cache
def topics() -> dict[str, Topic]:
    """The topic table, in CATEGORIES order, loaded once from bot/data/topics.json."""
    raw = json.loads((resources.files("bot") / "data" / "topics.json").read_text(encoding="utf-8"))
    entries = raw.get("categories", {})
    if tuple(entries) != CATEGORIES:
        raise TopicsDataError(
            f"topics.json must list exactly the categories {CATEGORIES} in that order; got {tuple(entries)}"
        )
    return {
        name: Topic(name, e["label"], tuple(e["paths"]), tuple(e["keywords"]), e["example"], tuple(e.get("laws", ())))
        for name, e in entries.items()
    }


def label(category: str) -> str:
    """Plain words for a category: 借贷欠款 → 借钱不还."""
    return topics()[category].label


def article_category(article: Article) -> str | None:
    """The category of the article's law when a topic lists it, else of its innermost title that names one
    (longest match wins), else None."""
    by_law = next((t.category for t in topics().values() if article.short_law in t.laws), None)
    if by_law:
        return by_law
    for title in (*reversed(article.path), article.short_law):
        best = max(
            ((len(p), t.category) for t in topics().values() for p in t.paths if p in title),
            default=None,
        )
        if best:
            return best[1]
    return None


def classify_articles(question: str, articles: Sequence[Article]) -> str:
    """One main category from the best articles (in rank order) and the everyday words in the question."""
    scores = dict.fromkeys(CATEGORIES, 0.0)
    path_scores = dict.fromkeys(CATEGORIES, 0.0)
    for weight, article in zip(_RANK_WEIGHTS, articles, strict=False):
        category = article_category(article)
        if category:
            scores[category] += weight
            path_scores[category] += weight
    for topic in topics().values():
        scores[topic.category] += sum(1.0 for word in topic.keywords if word in question)
    # Ties go to what the articles say, then to the order of CATEGORIES.
    best = max(CATEGORIES, key=lambda c: (scores[c], path_scores[c], -CATEGORIES.index(c)))
    return best if scores[best] > 0 else OTHER


def classify(question: str, hits: Sequence[Hit]) -> str:
    """One main category for a question from its retrieved hits (best first) and its words."""
    return classify_articles(question, [hit.article for hit in hits])


def subject_phrase(article: Article) -> str:
    """What the article is about, in the law's own words: 借款合同 for 民法典 675 (from its 章 or 节)."""
    for title in reversed(article.path):
        plain = _DIVISION_PREFIX.sub("", title).strip()
        if plain and plain not in _GENERIC_TITLES:
            return plain
    return article.short_law
