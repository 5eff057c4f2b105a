"""Question clean-up and expansion: villagers' everyday words → the terms statutes use.

The lexicon (data/lexicon.tsv) is data the team extends; every entry maps a general everyday word,
never a whole question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

# Greetings and filler that carry no legal meaning but pull dense search toward chatty text.
_FILLER = re.compile(
    r"(你好|您好|老师好|老师|律师|请问一下|请问|问一下|问下|想问下|想问一下|想咨询一下|咨询一下|咨询下|"
    r"麻烦问一下|麻烦|谢谢你|谢谢您|谢谢|多谢|急急急|急|在吗|打扰了|打扰一下)[，,。！!？?\s]*"
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Lexicon:
    entries: tuple[tuple[str, tuple[str, ...]], ...]  # (everyday word, legal terms), longest word first

    def terms_for(self, text: str) -> list[str]:
        """Legal terms for the everyday words in text, each once, in lexicon order."""
        seen: dict[str, None] = {}
        for word, terms in self.entries:
            if word in text:
                for term in terms:
                    if term not in text:
                        seen.setdefault(term)
        return list(seen)


def parse_lexicon(text: str) -> Lexicon:
    entries = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        word, sep, terms = line.partition("\t")
        if not sep or not word.strip() or not terms.split():
            raise ValueError(f"lexicon line {n}: expected 'word<TAB>term term ...', got {line!r}")
        entries.append((word.strip(), tuple(terms.split())))
    entries.sort(key=lambda e: len(e[0]), reverse=True)
    return Lexicon(tuple(entries))


@cache
def default_lexicon() -> Lexicon:
    return parse_lexicon(resources.files("indexing").joinpath("data", "lexicon.tsv").read_text(encoding="utf-8"))


def strip_filler(text: str) -> str:
    """Drop greetings and filler; collapse white space."""
    cleaned = _SPACES.sub(" ", _FILLER.sub("", text)).strip()
    return cleaned or text.strip()


def expand_question(text: str, lexicon: Lexicon | None = None) -> str:
    """The cleaned question followed by the legal terms its everyday words stand for."""
    return _expand(text, lexicon) if lexicon is not None else _expand_by_default(text)


@lru_cache(maxsize=256)
def _expand_by_default(text: str) -> str:
    # A question is expanded twice in a row, to encode it and to search: scanning the lexicon is 0.1 ms.
    return _expand(text, default_lexicon())


def _expand(text: str, lexicon: Lexicon) -> str:
    cleaned = strip_filler(text)
    terms = lexicon.terms_for(cleaned)
    return f"{cleaned} {' '.join(terms)}" if terms else cleaned
