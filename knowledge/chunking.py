"""Chunks: the units that get embedded and indexed — one per article, long articles split by 款, and
each sentence of a longer article on its own.

A villager's question usually matches one sentence of an article ("借款人未按照约定的期限返还借款的"),
while the article's own vector averages all of its sentences. Search takes each article's best chunk,
so a sentence chunk lets that one sentence find its article. The answer still quotes whole articles.

SHARED TYPE — other packages depend on the fields below; extend, don't rename.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from knowledge.articles import Article

DEFAULT_MAX_CHARS = 600
# A sentence shorter than this is joined to the next: "有下列情形之一的：" says nothing by itself.
SENTENCE_MIN_CHARS = 12
# A sentence ends at 。 or ；, together with the newline that may follow it (项 lines).
_SENTENCE = re.compile(r"[^。；]*[。；]\n?|[^。；]+")


@dataclass(frozen=True, slots=True)
class Chunk:
    id: str  # stable: "民法典:1079#0" (law, article, part), "民法典:1079#s2" (its third sentence)
    law: str  # full law name, as Article.law
    article: int  # article number
    part: int  # 0 for the first (or only) part of an article; 0 for sentence chunks as well
    citation: str  # 《中华人民共和国民法典》第一千零七十九条
    path: tuple[str, ...]  # 编 / 分编 / 章 / 节 titles
    text: str  # what is embedded and keyword-indexed: header line + the part's 款 (or the sentence)
    sentence: int | None = None  # n for a chunk holding only the article's n-th sentence

    @property
    def is_sentence(self) -> bool:
        return self.sentence is not None

    @property
    def article_key(self) -> str:
        """Same as Article.key: 中华人民共和国民法典:1079."""
        return f"{self.law}:{self.article}"

    @property
    def content_hash(self) -> str:
        """sha256 of everything that affects the embedding; a rebuild re-embeds only changed hashes."""
        return hashlib.sha256(f"{self.id}\n{self.text}".encode()).hexdigest()


def chunk_articles(articles: Iterable[Article], max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    """Each article's parts (`chunk_article`), then its sentence chunks (`sentence_chunks`)."""
    return [chunk for article in articles
            for chunk in (*chunk_article(article, max_chars), *sentence_chunks(article))]  # fmt: skip


def chunk_article(article: Article, max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    header = article.header
    budget = max_chars - len(header) - 1  # the header line and its newline come first in every part
    if budget < 20:
        raise ValueError(f"max_chars={max_chars} leaves no room for text after the header {header!r}")
    return [
        Chunk(
            id=f"{article.short_law}:{article.number}#{part}",
            law=article.law,
            article=article.number,
            part=part,
            citation=article.citation,
            path=article.path,
            text=f"{header}\n{body}",
        )
        for part, body in enumerate(_pack(article.paragraphs, budget))
    ]


def sentence_chunks(article: Article) -> list[Chunk]:
    """One chunk per sentence (ending at 。 or ；) under the article's header; none for an article of
    one sentence, whose part already is that sentence."""
    sentences: list[str] = []
    for paragraph in article.paragraphs:
        for sentence in (s.strip() for s in _SENTENCE.findall(paragraph)):
            if sentences and len(sentences[-1]) < SENTENCE_MIN_CHARS:
                sentences[-1] += sentence
            elif sentence:
                sentences.append(sentence)
    if len(sentences) < 2:
        return []
    return [
        Chunk(
            id=f"{article.short_law}:{article.number}#s{n}",
            law=article.law,
            article=article.number,
            part=0,
            citation=article.citation,
            path=article.path,
            text=f"{article.header}\n{sentence}",
            sentence=n,
        )
        for n, sentence in enumerate(sentences)
    ]


def _pack(paragraphs: Iterable[str], budget: int) -> list[str]:
    """Greedily pack whole 款 (joined by newlines) into parts of at most `budget` characters."""
    parts: list[str] = []
    current = ""
    for piece in (p for paragraph in paragraphs for p in _fit(paragraph, budget)):
        joined = f"{current}\n{piece}" if current else piece
        if len(joined) <= budget:
            current = joined
        else:
            parts.append(current)
            current = piece
    parts.append(current)
    return parts


def _fit(paragraph: str, budget: int) -> list[str]:
    """A 款 that fits stays whole; a longer one is cut at sentence ends (or, failing that, anywhere)."""
    if len(paragraph) <= budget:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for sentence in _sentences(paragraph, budget):
        if current and len(current) + len(sentence) > budget:
            pieces.append(current.rstrip("\n"))
            current = ""
        current += sentence
    pieces.append(current.rstrip("\n"))
    return pieces


def _sentences(paragraph: str, budget: int) -> list[str]:
    # A single sentence longer than the budget has no better cut than a hard one.
    sentences = _SENTENCE.findall(paragraph)
    return [s[i : i + budget] for s in sentences for i in range(0, len(s), budget)]
