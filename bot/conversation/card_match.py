"""Matching a question to a situation card (bot/answers/cards.py) by meaning.

Every card's situation and example phrasings are embedded once with the question encoder the retriever
uses (`Retriever.embed_question`), so a match costs one matrix-vector product on the vector the question
already has (`Retrieval.vector`), as for the curated answers (bot/conversation/curated_match.py). A card's
similarity to a question is that of its closest phrasing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from bot.answers.cards import Card, cards, usable_cards
from bot.staff.card_edits import edits_version, effective_cards

if TYPE_CHECKING:
    from indexing.retrieval import Hit
    from knowledge.corpus import Corpus

log = logging.getLogger(__name__)
Embed = Callable[[str], np.ndarray]

# A card is considered only when its first article is the article retrieval ranked first (the re-ranker
# knows articles better than the token-table cosine knows situations) and no card about other articles
# altogether lies closer; then the closest such card must reach this cosine. Measured by
# scripts/measure_card_threshold.py on questions no card was written from, a match being right when the
# card's articles meet the question's gold articles. With the question bank of 7,474 written questions:
# dev tune split (332) 0.90: 44 matched, 93 % right; 0.92: 35 (10.5 %), all right; STARD train 3-law
# questions (557, FAQ wording, mostly outside the cards' situations) 0.90: 17, 59 %; 0.92: 13, 69 %; both
# sets at 0.92: 44 of 48 (91.7 %), at 0.90 51 of 61 (83.6 %). With the bank grown by issue 23's questions:
# 0.92: dev 34 of 35, STARD 10 of 12, both 44 of 47 (93.6 %); 0.90: 52 of 60 (86.7 %). The closest card
# by cosine alone was right for 73 % (dev) and 40 % (STARD) of its matches at 0.92. Re-run when the
# encoder, the written questions or the cards change. With STARD's questions in the default bank (issue 21), measured
# with them taken out of it: dev tune 34 of 35; STARD 9 of 12; both 43 of 47 (91.5 %) at 0.92. With the
# re-ranker reading the bank's words: dev tune 37 of 37, STARD 8 of 10 at 0.92. Accepting the card's first
# article in retrieval's top two at 0.94 besides adds 5 on dev and 2 on STARD at 95 % and 75 %: not taken.
# With the cards' phrasings in the question bank (bot.search.pipeline.bank_questions), at 0.92: dev tune
# 44 of 46 (13.9 % matched), STARD 8 of 10, both 52 of 56 (92.9 %); 0.93: 45 of 47; 0.90: 61 of 70.
# With the 19 laws and their cards (issue 23), on the tune splits of both dev sets and STARD's 652 rows, at
# 0.92: dev 46 of 52, STARD 8 of 12, both 54 of 64; 0.93: 47 of 54; 0.90: 63 of 78. Three of dev's six
# misses are a card on 劳动合同法 94 or 农村土地承包法 27/28 for a question labelled with their 民法典 twin
# (right in law): 49 of 52 then.
MATCH_THRESHOLD = 0.92


@dataclass(frozen=True, slots=True)
class CardMatch:
    card: Card
    similarity: float  # cosine between the question and the card's closest phrasing


@dataclass(frozen=True, slots=True)
class _Bank:
    """The cards in use and their phrasings' vectors (row i of vectors belongs to cards[owner[i]])."""

    cards: tuple[Card, ...]
    keys: tuple[frozenset[str], ...]  # each card's Article.key set
    first: tuple[str, ...]  # each card's first Article.key
    owner: np.ndarray
    vectors: np.ndarray


class CardMatcher:
    """The situation cards and their phrasings' vectors, shared by the consultation threads.

    With `sessions`, approved card edits (bot/staff/card_edits.py) replace the shipped cards: the app calls
    `refresh` every REFRESH_S seconds in the background, and `match` only reads the snapshot in memory."""

    def __init__(
        self,
        embed: Embed,
        *,
        corpus: Corpus,
        shipped: Sequence[Card] | None = None,
        threshold: float = MATCH_THRESHOLD,
        sessions: sessionmaker[Session] | None = None,
    ) -> None:
        """`embed`: the retriever's `embed_question`. Only `usable_cards` are matched: a card citing an article
        `corpus` lacks is left out (a deployment with other laws), so a matched card can always be quoted in
        full, and so is a card another usable card replaces."""
        self._embed = embed
        self._corpus = corpus
        self._shipped = tuple(cards() if shipped is None else shipped)
        self._sessions = sessions
        self._version: tuple[int, datetime | None] = (0, None)
        self._by_text: dict[str, np.ndarray] = {}  # phrasing → vector, so an edit re-embeds only what changed
        self._lock = threading.Lock()
        self.threshold = threshold
        self._bank = self._load(self._shipped)

    @property
    def cards(self) -> tuple[Card, ...]:
        return self._bank.cards

    def refresh(self) -> bool:
        """Re-read the approved card edits if any edit or decision happened since the last call; whether one
        did. Database errors propagate and leave the cards in use as they were."""
        if self._sessions is None:
            return False
        with self._lock:
            with self._sessions() as session:
                version = edits_version(session)
                if version == self._version:
                    return False
                chosen = effective_cards(session, self._shipped)
            self._bank = self._load(chosen)
            self._version = version
        log.info("situation cards reloaded: %d in use", len(self._bank.cards))
        return True

    def similarities(self, vector: np.ndarray) -> np.ndarray:
        """Each card's cosine with `vector`: that of its closest phrasing (cards order)."""
        return _similarities(self._bank, vector)

    def candidate(self, vector: np.ndarray, hits: Sequence[Hit]) -> CardMatch | None:
        """The closest card whose first article is the one retrieval ranked first, whatever its similarity;
        None when a card about other articles altogether lies closer (two readings disagree)."""
        bank = self._bank  # one consistent snapshot, even while a refresh swaps in a new one
        if not hits:
            return None
        top = hits[0].article.key
        allowed = [i for i, key in enumerate(bank.first) if key == top]
        if not allowed:
            return None
        scores = _similarities(bank, vector)
        best = max(allowed, key=lambda i: float(scores[i]))
        rivals = [float(scores[i]) for i, keys in enumerate(bank.keys) if not keys & bank.keys[best]]
        if rivals and max(rivals) > scores[best]:
            return None
        return CardMatch(bank.cards[best], float(scores[best]))

    def match(self, vector: np.ndarray, hits: Sequence[Hit]) -> CardMatch | None:
        """The candidate card if its similarity reaches the threshold, else None."""
        found = self.candidate(vector, hits)
        return found if found is not None and found.similarity >= self.threshold else None

    def _load(self, chosen: Sequence[Card]) -> _Bank:
        usable = usable_cards(chosen, self._corpus)
        if len(usable) < len(chosen):
            log.info("%d situation cards left out: they cite laws outside the corpus, or another card replaces "
                     "them", len(chosen) - len(usable))  # fmt: skip
        texts = [(i, text) for i, card in enumerate(usable) for text in card.texts]
        for _, text in texts:
            if text not in self._by_text:
                self._by_text[text] = self._embed(text)
        vectors = [self._by_text[text] for _, text in texts]
        return _Bank(
            cards=usable,
            keys=tuple(frozenset(_key(self._corpus, *ref) for ref in card.articles) for card in usable),
            first=tuple(_key(self._corpus, *card.articles[0]) for card in usable),
            owner=np.array([i for i, _ in texts], dtype=np.int64),
            vectors=np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 0), np.float32),
        )


def _similarities(bank: _Bank, vector: np.ndarray) -> np.ndarray:
    best = np.full(len(bank.cards), -1.0, dtype=np.float32)
    if len(bank.owner):
        np.maximum.at(best, bank.owner, bank.vectors @ vector.astype(np.float32))
    return best


def _key(corpus: Corpus, law: str, number: int) -> str:
    article = corpus.get(law, number)
    return article.key if article is not None else f"{law}:{number}"
