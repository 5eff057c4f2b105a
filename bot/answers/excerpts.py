"""Excerpts: an article's text, verbatim, trimmed with …… to the 款 that matter most for a question.

Relevance is the number of character bigrams a part shares with the question, after the question's everyday
words are joined by the statute terms they stand for (indexing/data/lexicon.tsv): cheap, needs no model,
and works for Chinese without word segmentation. A question that tells an age (孩子十二岁) also favours the
parts with an age condition it meets (已满八周岁的…).

Cuts fall only at sentence ends (。；) and between the 项 of a list, and a list's lead-in ("…不得实施下列
行为：", "…可以不经肖像权人同意：") is never dropped while one of its 项 is kept: without it an exception reads as
a rule. Kept parts stay in the statute's order; every gap is marked with one …… so a reader never mistakes
an excerpt for the whole article.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.answers.text import ELLIPSIS, bigrams, strip_markdown
from indexing.query import expand_question
from knowledge.articles import Article
from knowledge.numerals import from_chinese_numeral

# Sentences, 项 and lead-ins, each keeping its closing mark; a 项 line's leading "\n" starts the next part.
# A lead-in ends in ： at the end of a line; a ： inside a line (（一）第一顺序：配偶…) ends nothing.
_PART_END = re.compile(r"(?<=[。；])|(?<=：)(?=\n)")
_LEAD_IN_END = "："
_CLAUSE_END = re.compile(r"[，；、]")  # where a sentence too long for any budget is cut, last resort
_AGE = re.compile(r"([0-9]+|[一二两三四五六七八九十]+)\s*周?岁")
# 已满八周岁 / 不满两周岁 / 十八周岁以上: (bound, number, side)
_AGE_CONDITION = re.compile(r"(已满|不满|未满)?([0-9]+|[一二两三四五六七八九十]+)周岁(以上|以下)?")
_EXCEPTION = "但是"
_AGE_BONUS = 3  # an age condition outweighs a few shared everyday bigrams (离婚, 子女)
# Words the lexicon maps for retrieval but whose statute wording picks a different 项 (1033's 拍摄, 窥视).
_PICKING_TERMS = {"摄像头": "拍摄 窥视", "监控": "拍摄 窥视", "偷拍": "拍摄 窥视", "拍到": "拍摄 窥视"}
_MIN_CUT = 6  # a shorter start of a sentence says nothing: leave it out
_DOUBLE = re.compile(f"(?:{ELLIPSIS}){{2,}}")
# Going a few characters over the budget beats cutting a sentence or 款 short for them.
SLACK = 10


@dataclass(frozen=True, slots=True)
class _Part:
    text: str  # verbatim, closing mark included, without a leading line break
    joiner: str  # what stands before it in the article when the part before it is kept too: "" or "\n"
    needs: int | None  # index of the part it cannot be read without: its list's lead-in, or the rule
    # its 但是 makes an exception to
    is_lead_in: bool


@dataclass(frozen=True, slots=True)
class _Question:
    wanted: set[str]
    ages: tuple[int, ...]  # the ages the question tells (孩子十二岁 → 12)


def excerpt(article: Article, question: str, budget: int) -> str:
    """The article's text within about `budget` characters: whole if it fits, else its most relevant
    sentences and 项 (each 项 with its lead-in), with …… marking what was left out."""
    paragraphs = [strip_markdown(p).strip() for p in article.paragraphs]
    paragraphs = [p for p in paragraphs if p] or [""]
    whole = "\n".join(paragraphs)
    if len(whole) <= budget + SLACK:
        return whole
    parts = _parts(paragraphs)
    return _render(parts, _pick(parts, _question(question), budget), budget)


def _question(question: str) -> _Question:
    text = expand_question(question).replace("两", "二")  # 分居两年 → the statute's 分居满二年
    extra = " ".join(terms for word, terms in _PICKING_TERMS.items() if word in question)
    ages = tuple(from_chinese_numeral(m.group(1)) if not m.group(1).isdigit() else int(m.group(1))
                 for m in _AGE.finditer(question))  # fmt: skip
    return _Question(bigrams(f"{text} {extra}"), ages)


def _parts(paragraphs: Sequence[str]) -> list[_Part]:
    """Every 款's sentences and 项, in order; a 项 needs the lead-in of its list, a 但是 sentence the one
    before it."""
    parts: list[_Part] = []
    for n, paragraph in enumerate(paragraphs):
        lead_in: int | None = None
        for k, piece in enumerate(p for p in _PART_END.split(paragraph) if p.strip("\n")):
            text = piece.lstrip("\n")
            joiner = "\n" if (k == 0 and n > 0) or piece.startswith("\n") else ""
            is_lead_in = text.endswith(_LEAD_IN_END)
            needs = lead_in if not is_lead_in else None
            if k > 0 and text.startswith(_EXCEPTION):
                needs = len(parts) - 1
            parts.append(_Part(text, joiner, needs, is_lead_in))
            if is_lead_in:
                lead_in = len(parts) - 1
    return parts


def _score(part: _Part, question: _Question) -> float:
    return len(question.wanted & bigrams(part.text)) + _age_bonus(part.text, question)


def _age_bonus(text: str, question: _Question) -> float:
    """A part with an age condition, when the question tells an age: more if the told age meets it, and
    the higher the age it meets, the more: 已满八周岁 says more about a twelve-year-old than 已满两周岁."""
    if not question.ages or "周岁" not in text:
        return 0.0
    met = [
        limit
        for bound, number, side in _AGE_CONDITION.findall(text)
        for limit in [int(number) if number.isdigit() else from_chinese_numeral(number)]
        for age in question.ages
        if (age < limit if bound in ("不满", "未满") or side == "以下" else age >= limit)
    ]
    return _AGE_BONUS + max(met) if met else 1.0


def _pick(parts: Sequence[_Part], question: _Question, budget: int) -> list[int]:
    """Indexes of the parts to keep, in text order: the most relevant first (earlier on ties), each with
    what it needs (a lead-in its most relevant 项), while they fit the budget. The best is always kept;
    parts that share nothing with the question are not added."""
    scores = [_score(p, question) for p in parts]
    ranked = sorted(range(len(parts)), key=lambda i: (-scores[i], i))
    kept: set[int] = set()
    used = 0
    for rank, i in enumerate(ranked):
        if rank > 0 and scores[i] <= 0:
            break
        group = _with_needs(i, parts, scores) - kept
        cost = sum(len(parts[j].text) + len(ELLIPSIS) for j in group)
        if rank == 0 or used + cost <= budget:
            kept |= group
            used += cost
    return sorted(kept)


def _with_needs(i: int, parts: Sequence[_Part], scores: Sequence[float]) -> set[int]:
    """The part and what it cannot be read without, transitively; a lead-in comes with its best 项."""
    group = {i}
    if parts[i].is_lead_in:
        items = [j for j, p in enumerate(parts) if p.needs == i]
        if items:
            group.add(max(items, key=lambda j: (scores[j], -j)))
    for j in list(group):
        while (need := parts[j].needs) is not None and need not in group:
            group.add(need)
            j = need
    return group


def _render(parts: Sequence[_Part], kept: Sequence[int], budget: int) -> str:
    """The kept parts in order, each gap (before, between, after) marked with one ……; a part that alone
    overruns the budget is cut at its last clause mark within it."""
    out: list[str] = []
    previous = -1
    used = 0
    for i in kept:
        gap = i != previous + 1
        joiner = ELLIPSIS if gap else (parts[i].joiner if out else "")
        text = parts[i].text
        if used + len(joiner) + len(text) > budget + SLACK:
            room = budget - used - (0 if gap else len(joiner))
            cut = _cut(text, room) if room >= _MIN_CUT or not out else ""
            out.append((joiner if gap or cut else "") + cut + ELLIPSIS)
            return _DOUBLE.sub(ELLIPSIS, "".join(out))  # nothing more fits
        out.append(joiner)
        used += 0 if gap else len(joiner)
        out.append(text)
        used += len(text)
        previous = i
    if previous < len(parts) - 1:
        out.append(ELLIPSIS)
    return _DOUBLE.sub(ELLIPSIS, "".join(out))


def _cut(text: str, limit: int) -> str:
    """text's start within `limit` characters, ending at its last clause mark if there is one."""
    head = text[:limit]
    marks = [m.end() for m in _CLAUSE_END.finditer(head)]
    return head[: marks[-1]] if marks and marks[-1] > limit // 2 else head
