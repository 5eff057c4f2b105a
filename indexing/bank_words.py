"""The question bank's words: how likely a question's words are among the questions asked of each article.

The bank compares questions by meaning (`indexing.question_bank`). Its words say something the vectors
blur: people who ask about an article reuse the same few words (欠条, 宅基地, 彩礼), and a question that
shares them is likely about that article even when its sentence as a whole is closer to another's.
Each article's bank questions are one bag of words; a question scores by the mean log-likelihood ratio of
its words under that bag (Dirichlet-smoothed towards the whole bank) against the whole bank.

Three re-ranker features (`indexing.rerank`), refitted: `pufa eval`, STARD 5-fold CV recall@5 / MRR@10
0.686 / 0.624 → 0.688 / 0.638; dev held-out 0.764 / 0.689 → 0.784 / 0.757 (written in the same style as
the bank's written questions, so that split flatters it). With the real questions' words alone (no written
ones), lab: STARD MRR@10 no better (0.630 against 0.626). The best 50 articles by this score also join the
candidates (`indexing.retrieval.FUSED`): STARD 0.697 / 0.646, dev held-out 0.784 / 0.756.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from indexing.keyword_index import tokenize

# Dirichlet prior, in words: an article with a few questions leans on the whole bank. STARD 5-fold CV
# re-ranked MRR@10 (lab: scripts' captured features): 5 0.636, 20 0.642, 100 0.645, none 0.626. With the
# candidates too, `pufa eval`'s recipe, recall@5 / MRR@10: 30 0.691 / 0.639, 100 0.697 / 0.646, 300
# 0.694 / 0.645 (dev held-out recall@5 0.784 for all three).
PRIOR_WORDS = 100.0


class BankWords:
    """Word counts of each article's bank questions, kept as postings: word → the articles using it."""

    def __init__(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        if len(keys) != len(texts):
            raise ValueError(f"{len(keys)} article keys for {len(texts)} questions")
        counts: dict[str, Counter[str]] = {}
        for key, text in zip(keys, texts, strict=True):
            counts.setdefault(key, Counter()).update(_words(text))
        totals: Counter[str] = Counter()
        for article_counts in counts.values():
            totals.update(article_counts)
        self._size = sum(totals.values())
        self._totals = totals
        # log(μ / (size + μ)): every word of the question costs an article this much unless it used the word.
        self._base = {key: math.log(PRIOR_WORDS / (sum(c.values()) + PRIOR_WORDS)) for key, c in counts.items()}
        self._postings: dict[str, list[tuple[str, int]]] = {}
        for key, article_counts in counts.items():
            for word, n in article_counts.items():
                self._postings.setdefault(word, []).append((key, n))

    def view(self, words: Sequence[str]) -> WordsView:
        """Every article's score for a question's words, computed once for both its uses in a search."""
        return WordsView(self._found(words), self._base, bool(words))

    def _found(self, words: Sequence[str]) -> dict[str, float]:
        """The score of every article that used at least one of `words`.

        With P(w | bank) = p, an article of size L using w n times scores log((n + μp) / (L + μ) / p) for it,
        which is log(μ / (L + μ)) + log(1 + n / (μp)): its base, plus a bonus only where n > 0.
        """
        if not words:
            return {}
        bonus: dict[str, float] = {}
        for word in words:
            p = (self._totals[word] + 0.5) / (self._size + 0.5)
            for key, n in self._postings.get(word, ()):
                bonus[key] = bonus.get(key, 0.0) + math.log1p(n / (PRIOR_WORDS * p))
        return {key: self._base[key] + extra / len(words) for key, extra in bonus.items()}


@dataclass(frozen=True, slots=True)
class WordsView:
    """One question's scores under the bank's words (`BankWords.view`)."""

    found: dict[str, float]  # every article that used at least one of the words → its score
    base: dict[str, float]  # every article with bank questions → its score for words it never used
    any_words: bool  # the question had words at all

    def scores(self, keys: Sequence[str]) -> list[float]:
        """Per key, the mean over the words of log(P(word | its questions) / P(word | the bank)); 0 for no
        words.

        An article without bank questions scores 0. A word the bank never saw counts as half an occurrence in
        the whole bank (no division by zero); it costs each article its base, as any word it did not use.
        """
        if not self.any_words:
            return [0.0] * len(keys)
        return [self.found.get(key, self.base.get(key, 0.0)) for key in keys]

    def ranking(self, limit: int) -> list[str]:
        """The `limit` articles whose questions use the question's words most, best first (ties by key)."""
        return sorted(self.found, key=lambda key: (-self.found[key], key))[:limit]


@lru_cache(maxsize=65536)
def _words(text: str) -> tuple[str, ...]:
    """A bank question's words, remembered: cross-validation makes a bank less a fold's rows many times."""
    return tuple(tokenize(text))
