"""Excerpts: an article's text, verbatim, trimmed with …… to the 款 that matter most for a question.

Relevance is the number of character bigrams a 款 shares with the question: cheap, needs no model, and
works for Chinese without word segmentation. Kept parts stay in the statute's order; every gap is
marked with …… so a reader never mistakes an excerpt for the whole article.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.answers.text import ELLIPSIS, bigrams, strip_markdown
from knowledge.articles import Article

# Sentences and 项 lines, each keeping its closing mark (。；：or the line break).
_SENTENCE_END = re.compile(r"(?<=[。；：！？\n])")
# Going a few characters over the budget beats cutting a sentence or 款 short for them.
SLACK = 10


def excerpt(article: Article, question: str, budget: int) -> str:
    """The article's text within about `budget` characters: whole if it fits, else its best 款 (or,
    inside one long 款, its best sentences), with …… marking what was left out."""
    paragraphs = [strip_markdown(p).strip() for p in article.paragraphs]
    paragraphs = [p for p in paragraphs if p] or [""]
    if len("\n".join(paragraphs)) <= budget + SLACK:
        return "\n".join(paragraphs)
    wanted = bigrams(question)
    kept = _pick(paragraphs, wanted, budget)
    if len(kept) > 1 or len(paragraphs[kept[0]]) <= budget + SLACK:
        return _join(paragraphs, kept, "\n")
    # Even the best 款 is too long: keep its best sentences instead.
    best = kept[0]
    sentences = [s for s in _SENTENCE_END.split(paragraphs[best]) if s]
    inner = _join(sentences, _pick(sentences, wanted, budget), "")
    if len(inner.replace(ELLIPSIS, "")) > budget + SLACK:
        inner = inner[:budget].rstrip("\n") + ELLIPSIS
    lead = ELLIPSIS if best > 0 and not inner.startswith(ELLIPSIS) else ""
    tail = ELLIPSIS if best < len(paragraphs) - 1 and not inner.endswith(ELLIPSIS) else ""
    return lead + inner + tail


def _pick(units: Sequence[str], wanted: set[str], budget: int) -> list[int]:
    """Indexes of the units to keep, in text order: most shared bigrams first (earlier on ties), while
    they fit the budget. The best unit is always kept."""
    ranked = sorted(range(len(units)), key=lambda i: (-len(wanted & bigrams(units[i])), i))
    kept = [ranked[0]]
    used = len(units[ranked[0]])
    for i in ranked[1:]:
        cost = len(units[i]) + len(ELLIPSIS)
        if used + cost <= budget:
            kept.append(i)
            used += cost
    return sorted(kept)


def _join(units: Sequence[str], kept: Sequence[int], joiner: str) -> str:
    """The kept units in order; …… wherever units were left out (before, between, after)."""
    out: list[str] = []
    previous = -1
    for i in kept:
        if i != previous + 1:
            out.append(ELLIPSIS)
        elif out:
            out.append(joiner)
        out.append(units[i].rstrip("\n") if joiner == "" and i + 1 not in kept else units[i])
        previous = i
    if previous != len(units) - 1:
        out.append(ELLIPSIS)
    return "".join(out)
