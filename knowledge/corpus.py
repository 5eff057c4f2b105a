"""The corpus: every validated article the bot may cite, with lookups by law name and number."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from knowledge.articles import Article, parse_articles
from knowledge.law_names import law_name_candidates, short_law_name
from knowledge.local_docs import load_local_docs
from knowledge.sources import FROM_MANIFEST, StatuteDB

# The three laws of the mission: always a supported corpus (`PUFA_LAWS`), with figures of its own.
MISSION_LAWS: tuple[str, ...] = ("中华人民共和国民法典", "中华人民共和国宪法", "中华人民共和国人民调解法")
# The laws of village life that villagers' questions need beside the three (issue 23), all 现行有效 in
# laws.db once knowledge/data/status_overrides.json corrects 农村土地承包法.
VILLAGE_LAWS: tuple[str, ...] = tuple(
    "中华人民共和国" + name
    for name in (
        "老年人权益保障法", "反家庭暴力法", "妇女权益保障法", "未成年人保护法", "村民委员会组织法",
        "土地管理法", "农村土地承包法", "农村土地承包经营纠纷调解仲裁法", "劳动法", "劳动合同法",
        "劳动争议调解仲裁法", "社会保险法", "道路交通安全法", "消费者权益保护法", "治安管理处罚法",
        "法律援助法",
    )
)  # fmt: skip
TOWNSHIP_LAWS: tuple[str, ...] = MISSION_LAWS + VILLAGE_LAWS
# What a township's bot cites when not told otherwise (`bot.settings.Settings.laws`): villagers ask about
# wages, accidents and contracted land as often as about the civil code.
DEFAULT_LAWS: tuple[str, ...] = TOWNSHIP_LAWS


class CorpusError(ValueError):
    """Articles that can't live in one corpus (repeated keys, clashing law names, unknown keys)."""


@dataclass(frozen=True)
class Corpus:
    articles: tuple[Article, ...]
    source_sha256: str  # sha256 of the laws.db the statutes came from
    _by_key: dict[str, Article] = field(init=False, repr=False, compare=False)
    _aliases: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key: dict[str, Article] = {}
        for article in self.articles:
            if article.key in by_key:
                raise CorpusError(f"article {article.key} occurs twice; each law may be loaded once")
            by_key[article.key] = article
        object.__setattr__(self, "_by_key", by_key)
        object.__setattr__(self, "_aliases", _aliases(self.laws))

    def __len__(self) -> int:
        return len(self.articles)

    @cached_property
    def laws(self) -> tuple[str, ...]:
        """Full law names, in the order they first appear."""
        return tuple(dict.fromkeys(article.law for article in self.articles))

    def resolve_law(self, name: str) -> str | None:
        """Full name in this corpus for 中华人民共和国民法典, 民法典 or 《民法典》; None if absent."""
        return next((self._aliases[c] for c in law_name_candidates(name) if c in self._aliases), None)

    def get(self, law: str, number: int) -> Article | None:
        full = self.resolve_law(law)
        return self._by_key.get(f"{full}:{number}") if full else None

    @cached_property
    def checksum(self) -> str:
        """sha256 over every article's key, path and text, independent of article order.

        The path is included because it is part of every chunk's header, so it changes embeddings.
        """
        digest = hashlib.sha256()
        for key in sorted(self._by_key):
            article = self._by_key[key]
            digest.update("\x1f".join((key, *article.path, article.text)).encode())
            digest.update(b"\x1e")
        return digest.hexdigest()

    def subset(self, selector: Iterable[str] | Callable[[Article], bool]) -> Corpus:
        """A smaller corpus: articles whose key is listed (all must exist), or that satisfy a predicate."""
        if callable(selector):
            chosen = tuple(a for a in self.articles if selector(a))
        else:
            keys = set(selector)
            unknown = sorted(keys - self._by_key.keys())
            if unknown:
                raise CorpusError(f"subset names articles not in the corpus: {unknown[:5]}")
            chosen = tuple(a for a in self.articles if a.key in keys)
        return Corpus(chosen, self.source_sha256)


def _aliases(laws: Sequence[str]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for law in laws:
        for alias in {law, short_law_name(law)}:
            if aliases.setdefault(alias, law) != law:
                raise CorpusError(f"law name {alias!r} is ambiguous: {aliases[alias]} and {law}; retitle one")
    return aliases


def load_corpus(
    laws: Sequence[str],
    local_dir: Path | None = None,
    db_path: Path | None = None,
    *,
    expected_sha256: str | None = FROM_MANIFEST,
) -> Corpus:
    """Validated articles of the named laws and local documents; pinned laws checked against laws.json."""
    articles: list[Article] = []
    with StatuteDB(db_path, expected_sha256=expected_sha256) as db:
        for name in laws:
            raw = db.read_law(name)
            expected = raw.entry.articles if raw.entry else None
            divisions = raw.entry.divisions if raw.entry else ()
            articles += parse_articles(raw.rows, law=raw.name, expected_count=expected, divisions=divisions)
        sha256 = db.sha256
    if local_dir is not None:
        articles += load_local_docs(local_dir)
    return Corpus(tuple(articles), sha256)
