"""The question bank's words: how likely a question's words are among the questions asked of each article.

The bank compares questions by meaning (`indexing.question_bank`). Its words say something the vectors
blur: people who ask about an article reuse the same few words (欠条, 宅基地, 彩礼), and a question that
shares them is likely about that article even when its sentence as a whole is closer to another's.
Each article's bank questions are one bag of words; a question scores by the mean log-likelihood ratio of
its words under that bag (Dirichlet-smoothed towards the whole bank) against the whole bank.

Three re-ranker features (`indexing.rerank`), refitted: `pufa eval`, STARD 5-fold CV recall@5 / MRR@10
0.686 / 0.624 → 0.688 / 0.638; dev held-out 0.764 / 0.689 → 0.784 / 0.757 (written in the same style as
the bank's written questions, so that split flatters it). With the real questions' words alone (no written
ones), lab: STARD MRR@10 no better (0.630 against 0.626).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from indexing.keyword_index import tokenize

# Dirichlet prior, in words: an article with a few questions leans on the whole bank. STARD 5-fold CV
# re-ranked MRR@10 (lab: scripts' captured features): 5 0.636, 20 0.642, 100 0.645, none 0.626.
PRIOR_WORDS = 100.0


class BankWords:
    """Word counts of each article's bank questions."""

    def __init__(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        if len(keys) != len(texts):
            raise ValueError(f"{len(keys)} article keys for {len(texts)} questions")
        self._counts: dict[str, Counter[str]] = {}
        self._totals: Counter[str] = Counter()
        for key, text in zip(keys, texts, strict=True):
            words = _words(text)
            self._counts.setdefault(key, Counter()).update(words)
            self._totals.update(words)
        self._sizes = {key: sum(counts.values()) for key, counts in self._counts.items()}
        self._size = sum(self._sizes.values())

    def scores(self, words: Sequence[str], keys: Sequence[str]) -> list[float]:
        """Per key, the mean over `words` of log(P(word | its questions) / P(word | the bank)); 0 for no words.

        A word the bank never saw counts as half an occurrence, so that it lowers no article below another.
        """
        if not words:
            return [0.0] * len(keys)
        background = [(self._totals[word] + 0.5) / (self._size + 0.5) for word in words]
        out = []
        for key in keys:
            counts, size = self._counts.get(key), self._sizes.get(key, 0)
            total = 0.0
            for word, p in zip(words, background, strict=True):
                seen = counts[word] if counts is not None else 0
                total += math.log((seen + PRIOR_WORDS * p) / (size + PRIOR_WORDS) / p)
            out.append(total / len(words))
        return out


@lru_cache(maxsize=65536)
def _words(text: str) -> tuple[str, ...]:
    """A bank question's words, remembered: cross-validation makes a bank less a fold's rows many times."""
    return tuple(tokenize(text))
