"""Matching a question to a situation card (bot/answers/cards.py) by meaning.

Every card's situation and example phrasings are embedded once with the question encoder the retriever
uses (`Retriever.embed_question`), so a match costs one matrix-vector product on the vector the question
already has (`Retrieval.vector`), as for the curated answers (bot/conversation/curated_match.py). A card's
similarity to a question is that of its closest phrasing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bot.answers.cards import Card, cards, missing_articles

if TYPE_CHECKING:
    from indexing.retrieval import Hit
    from knowledge.corpus import Corpus

log = logging.getLogger(__name__)
Embed = Callable[[str], np.ndarray]

# A card is considered only when its first article is the article retrieval ranked first (the re-ranker
# knows articles better than the token-table cosine knows situations) and no card about other articles
# altogether lies closer; then the closest such card must reach this cosine. Measured by
# scripts/measure_card_threshold.py on questions no card was written from, a match being right when the
# card's articles meet the question's gold articles: dev tune split (332 questions) 0.90: 44 matched,
# 93 % right; 0.92: 35 matched (10.5 %), all right; 0.94: 28, all right. STARD train 3-law questions (557,
# FAQ wording, mostly outside the cards' situations): 0.90: 17, 59 %; 0.92: 13, 69 %; 0.95: 7, 86 %. Both
# sets at 0.92: 44 of 48 right (91.7 %), at 0.90 51 of 61 (83.6 %). The closest card by cosine alone was
# right for 73 % (dev) and 40 % (STARD) of its matches at 0.92. Re-run when the encoder or the cards change.
MATCH_THRESHOLD = 0.92


@dataclass(frozen=True, slots=True)
class CardMatch:
    card: Card
    similarity: float  # cosine between the question and the card's closest phrasing


class CardMatcher:
    """The situation cards and their phrasings' vectors; read-only after construction, shared by threads."""

    def __init__(
        self,
        embed: Embed,
        *,
        corpus: Corpus,
        shipped: Sequence[Card] | None = None,
        threshold: float = MATCH_THRESHOLD,
    ) -> None:
        """`embed`: the retriever's `embed_question`. Cards citing an article `corpus` lacks are left out (a
        deployment with other laws), so a matched card can always be quoted in full."""
        chosen = list(cards() if shipped is None else shipped)
        usable = [card for card in chosen if not missing_articles(card, corpus)]
        if len(usable) < len(chosen):
            log.warning("%d situation cards cite articles outside the corpus; left out", len(chosen) - len(usable))
        self.cards = tuple(usable)
        self._keys = [frozenset(_key(corpus, *ref) for ref in card.articles) for card in self.cards]
        self._first = [_key(corpus, *card.articles[0]) for card in self.cards]
        self.threshold = threshold
        texts = [(i, text) for i, card in enumerate(self.cards) for text in card.texts]
        self._owner = np.array([i for i, _ in texts], dtype=np.int64)
        vectors = [embed(text) for _, text in texts]
        self._vectors = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 0), np.float32)

    def similarities(self, vector: np.ndarray) -> np.ndarray:
        """Each card's cosine with `vector`: that of its closest phrasing (cards order)."""
        best = np.full(len(self.cards), -1.0, dtype=np.float32)
        if len(self._owner):
            np.maximum.at(best, self._owner, self._vectors @ vector.astype(np.float32))
        return best

    def candidate(self, vector: np.ndarray, hits: Sequence[Hit]) -> CardMatch | None:
        """The closest card whose first article is the one retrieval ranked first, whatever its similarity;
        None when a card about other articles altogether lies closer (two readings disagree)."""
        if not hits:
            return None
        top = hits[0].article.key
        allowed = [i for i, key in enumerate(self._first) if key == top]
        if not allowed:
            return None
        scores = self.similarities(vector)
        best = max(allowed, key=lambda i: float(scores[i]))
        rivals = [float(scores[i]) for i, keys in enumerate(self._keys) if not keys & self._keys[best]]
        if rivals and max(rivals) > scores[best]:
            return None
        return CardMatch(self.cards[best], float(scores[best]))

    def match(self, vector: np.ndarray, hits: Sequence[Hit]) -> CardMatch | None:
        """The candidate card if its similarity reaches the threshold, else None."""
        found = self.candidate(vector, hits)
        return found if found is not None and found.similarity >= self.threshold else None


def _key(corpus: Corpus, law: str, number: int) -> str:
    article = corpus.get(law, number)
    return article.key if article is not None else f"{law}:{number}"
