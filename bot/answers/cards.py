"""Situation cards: reviewed plain answers for the situations villagers ask about most (bot/data/cards/*.json).

A card names a situation in plain words ("儿子以分家为由不养老人"), gives a one- or two-sentence answer
whose every sentence ends with the article it rests on, the articles to quote in order, the tips that fit
and the topic whose contacts to name. Pure: loading checks the shape of every file and reports the file
and line of what is wrong; `check_cards` checks every cited article against a corpus (run by `pufa build`
and by the tests on the full corpus).

A card resting on a law of village life (劳动合同法, 反家庭暴力法...) may name the card it `replaces`: the
民法典 card of the same situation. `usable_cards` keeps, for a deployment's corpus, the cards it can quote in
full and drops a card whose replacement is among them, so the three laws alone keep the 民法典 answer and
the 19 laws give the law that fits (issue 23). Two twins never compete for one question.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

from bot.answers.guides import Tip
from bot.answers.topics import CATEGORIES
from knowledge.corpus import CorpusError
from knowledge.numerals import from_chinese_numeral

if TYPE_CHECKING:
    from knowledge.corpus import Corpus

__all__ = [
    "Card",
    "CardsDataError",
    "card_files",
    "cards",
    "check_cards",
    "check_shipped_cards",
    "cited_in",
    "load_card_file",
    "load_cards",
    "missing_articles",
    "parse_card",
    "unsupported_sentences",
    "usable_cards",
]

# 《民法典》第一千零六十七条, also inside a list: （《民法典》第二十六条、第一千零六十七条）
CITATION = re.compile(r"《([^《》]+)》((?:第[零一二两三四五六七八九十百千]+条、?)+)")
_NUMBER = re.compile(r"第([零一二两三四五六七八九十百千]+)条")
# A sentence must end with its citation in full-width brackets, right before its 。！？
_N = "[零一二两三四五六七八九十百千]+"
_ENDS_WITH_CITATION = re.compile(rf"（《[^《》]+》第{_N}条(?:[、，；]《?[^（）]*?》?第{_N}条)*）$")
_SENTENCE = re.compile(r"[^。！？]+[。！？]")
MAX_VERDICT_CHARS = 6  # a plain answer may open with a short verdict sentence: 不能。能要回来。
_ARTICLE_REF = re.compile(r"^(\S+?)\s*(\d{1,4})$")  # "民法典 1067"
MAX_EXAMPLES = 12
MAX_ANSWER_CHARS = 200  # two short sentences; the reply still has to quote the articles
MAX_SITUATION_CHARS = 24  # it is the reply's header


class CardsDataError(CorpusError):
    """A card file is malformed or cites an article the corpus lacks: the message names the file and line.

    A CorpusError, so `pufa build` and the other commands stop on it with a clear message and exit code 2."""


@dataclass(frozen=True, slots=True)
class Card:
    id: str  # unique over all files: shanyang-fenjia
    topic: str  # one of topics.CATEGORIES
    situation: str  # header words: 儿子以分家为由不养老人
    examples: tuple[str, ...]  # how villagers might put it, for matching
    answer: str  # every sentence ends with （《民法典》第N条）
    articles: tuple[tuple[str, int], ...]  # (law short name, number) to quote, in order
    tips: tuple[Tip, ...]
    contact: str  # the category whose contacts the reply names
    replaces: str = ""  # the id of the card this one stands in for when the corpus can quote this one
    source: str = ""  # file:line, for error messages

    @property
    def texts(self) -> tuple[str, ...]:
        """What is embedded for matching: the situation and every example."""
        return (self.situation, *self.examples)


def cited_in(text: str) -> list[tuple[str, int]]:
    """(law, number) of every 《law》第N条 in a card's text, lists included, in order."""
    found = []
    for law, numbers in CITATION.findall(text):
        found += [(law, from_chinese_numeral(n)) for n in _NUMBER.findall(numbers)]
    return found


def unsupported_sentences(answer: str) -> list[str]:
    """The sentences of a plain answer that do not end with the article they rest on."""
    sentences = _SENTENCE.findall(answer)
    rest = _SENTENCE.sub("", answer).strip()
    if sentences and len(sentences) > 1 and len(sentences[0]) <= MAX_VERDICT_CHARS and "（" not in sentences[0]:
        sentences = sentences[1:]  # the verdict rests on the sentences after it
    bad = [s for s in sentences if not _ENDS_WITH_CITATION.search(s[:-1])]
    return bad + ([rest] if rest else [])


def card_files() -> list[Traversable]:
    """The shipped card files, in name order."""
    folder = resources.files("bot") / "data" / "cards"
    return sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)


@cache
def cards() -> tuple[Card, ...]:
    """Every shipped card, loaded and shape-checked once; raises CardsDataError."""
    return load_cards((f"bot/data/cards/{file.name}", file.read_text(encoding="utf-8")) for file in card_files())


def load_cards(files: Iterable[tuple[str, str]]) -> tuple[Card, ...]:
    """The cards of several files, given as (name, text): each file shape-checked, ids unique over all of
    them, every `replaces` naming another card that replaces none; CardsDataError naming file and line."""
    loaded: list[Card] = []
    for name, text in files:
        loaded += load_card_file(text, name)
    _check_unique(loaded)
    _check_replacements(loaded)
    return tuple(loaded)


def usable_cards(all_cards: Iterable[Card], corpus: Corpus) -> tuple[Card, ...]:
    """The cards a deployment with `corpus` uses: those it can quote in full, less those replaced by one of
    them (in order). What the matcher, the question bank and the console's list all read."""
    quotable = [card for card in all_cards if not missing_articles(card, corpus)]
    replaced = {card.replaces for card in quotable if card.replaces}
    return tuple(card for card in quotable if card.id not in replaced)


def load_card_file(text: str, name: str) -> list[Card]:
    """The cards of one file's text; CardsDataError with `name:line` for anything malformed."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardsDataError(f"{name}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("cards"), list):
        raise CardsDataError(f'{name}:1: expected an object with a "cards" list')
    topic = raw.get("topic")
    if topic not in CATEGORIES:
        raise CardsDataError(f"{name}:{_line_of(text, 'topic')}: topic {topic!r} is not one of {CATEGORIES}")
    return [_card(entry, topic, text, name, i) for i, entry in enumerate(raw["cards"])]


def parse_card(entry: dict[str, Any], topic: str, source: str) -> Card:
    """One card from its JSON object (as in a card file), shape-checked; CardsDataError naming `source`.

    For a card edit proposed in the console (bot/staff/card_edits.py), which has no file or line."""
    if topic not in CATEGORIES:
        raise CardsDataError(f"{source}: topic {topic!r} is not one of {CATEGORIES}")
    return _card(entry, topic, "", source, 0, where=source)


def check_cards(all_cards: Iterable[Card], corpus: Corpus) -> list[str]:
    """One message (file:line: what) for every card citing an article that a law of `corpus` lacks.

    A card resting on a law the deployment did not configure (PUFA_LAWS) is no error: the matcher leaves it
    out. A wrong article number in a configured law is one."""
    problems = []
    for card in all_cards:
        missing = missing_articles(card, corpus, configured_laws_only=True)
        if missing:
            problems.append(f"{card.source}: card {card.id} cites articles not in the corpus: {', '.join(missing)}")
    return problems


def check_shipped_cards(corpus: Corpus) -> int:
    """Load the shipped cards and check their citations against `corpus` (run by `pufa build`); how many.

    Raises CardsDataError naming every card, file and line at fault."""
    problems = check_cards(cards(), corpus)
    if problems:
        raise CardsDataError("situation cards cite articles not in the corpus:\n" + "\n".join(problems))
    return len(cards())


def missing_articles(card: Card, corpus: Corpus, *, configured_laws_only: bool = False) -> list[str]:
    """《law》第N条 of every article the card quotes or cites (answer, tips) that `corpus` lacks; with
    `configured_laws_only`, only those of laws `corpus` holds."""
    refs = [*card.articles, *cited_in(card.answer), *((t.law, t.number) for t in card.tips)]
    if configured_laws_only:
        refs = [(law, n) for law, n in refs if corpus.resolve_law(law) is not None]
    return sorted({f"《{law}》第{n}条" for law, n in refs if corpus.get(law, n) is None})


def _card(entry: Any, topic: str, text: str, name: str, index: int, *, where: str = "") -> Card:
    card_id = entry.get("id") if isinstance(entry, dict) else None
    line = _line_of(text, "id", card_id) if isinstance(card_id, str) else 1
    where = where or f"{name}:{line}"
    if not isinstance(entry, dict) or not isinstance(card_id, str) or not card_id:
        raise CardsDataError(f"{where}: card #{index + 1} needs an object with a string id")
    try:
        card = Card(
            id=card_id,
            topic=topic,
            situation=_text(entry, "situation", MAX_SITUATION_CHARS),
            examples=tuple(_strings(entry, "examples")),
            answer=_text(entry, "answer", MAX_ANSWER_CHARS),
            articles=tuple(_article(ref) for ref in _strings(entry, "articles")),
            tips=tuple(_tip(t) for t in entry.get("tips", [])),
            contact=entry.get("contact", topic),
            replaces=_optional_text(entry, "replaces"),
            source=where,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CardsDataError(f"{where}: card {card_id}: {exc}") from exc
    _check_card(card, where)
    return card


def _check_card(card: Card, where: str) -> None:
    problems = []
    if not 1 <= len(card.examples) <= MAX_EXAMPLES:
        problems.append(f"1-{MAX_EXAMPLES} examples")
    if not 1 <= len(card.articles) <= 3:
        problems.append("1-3 articles")
    if card.contact not in CATEGORIES:
        problems.append(f"contact {card.contact!r} is not a category")
    bad = unsupported_sentences(card.answer)
    if bad:
        problems.append(f"every answer sentence must end with its citation （《…》第N条）: {bad}")
    quoted = {(law, n) for law, n in card.articles}
    unquoted = [ref for ref in cited_in(card.answer) if ref not in quoted]
    if unquoted:
        problems.append(f"the answer rests on articles the card does not quote: {unquoted}")
    if problems:
        raise CardsDataError(f"{where}: card {card.id}: " + "; ".join(problems))


def _check_unique(all_cards: Sequence[Card]) -> None:
    seen: dict[str, str] = {}
    for card in all_cards:
        if card.id in seen:
            raise CardsDataError(f"{card.source}: card id {card.id} already used at {seen[card.id]}")
        seen[card.id] = card.source


def _check_replacements(all_cards: Sequence[Card]) -> None:
    """A card replaces one card that exists and replaces none itself: one step, so what stands in for
    what reads off the two files."""
    by_id = {card.id: card for card in all_cards}
    for card in all_cards:
        if not card.replaces:
            continue
        target = by_id.get(card.replaces)
        if target is None or target is card:
            raise CardsDataError(f"{card.source}: card {card.id} replaces {card.replaces!r}, which is no other card")
        if target.replaces:
            raise CardsDataError(f"{card.source}: card {card.id} replaces {target.id}, itself a replacement")


def _optional_text(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value.strip()


def _text(entry: dict[str, Any], key: str, limit: int) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty string")
    if len(value) > limit:
        raise ValueError(f"{key} is longer than {limit} characters")
    return value.strip()


def _strings(entry: dict[str, Any], key: str) -> list[str]:
    value = entry[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{key} must be a list of non-empty strings")
    return [v.strip() for v in value]


def _article(ref: str) -> tuple[str, int]:
    m = _ARTICLE_REF.match(ref.strip())
    if m is None:
        raise ValueError(f"article {ref!r} must read like 民法典 1067")
    return m.group(1), int(m.group(2))


def _tip(raw: Any) -> Tip:
    if not isinstance(raw, dict) or not isinstance(raw.get("tip"), str) or not isinstance(raw.get("number"), int):
        raise ValueError(f"tip {raw!r} needs tip, law and number")
    return Tip(raw["tip"], str(raw["law"]), raw["number"])


def _line_of(text: str, key: str, value: str | None = None) -> int:
    """The 1-based line of `"key": "value"` (or of the key alone) in a file's text; 1 when not found."""
    pattern = rf'"{key}"\s*:' + (rf'\s*"{re.escape(value)}"' if value is not None else "")
    m = re.search(pattern, text)
    return text.count("\n", 0, m.start()) + 1 if m else 1
