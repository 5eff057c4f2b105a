"""The question bank as the plain encoder sees it: which articles' bank questions lie closest to a question.

The bank compares questions through the question encoder (`indexing.question_bank`), whose adapter and token
table were fitted on the team's written questions. The bundled model's own question side (the plain
encoder, `indexing.plain_encoder`) reads real people's wording better; here it compares the question, as
typed, with the bank's questions, as asked (not expanded by the lexicon), each encoded once by `pufa build`
through the same encoder.

Four re-ranker features (`indexing.rerank`): the closest bank question's cosine per article, that minus
the best among the candidates, the article's share of the NEIGHBOURS closest bank questions, and its rank
among the candidates. Lab (captured candidates, re-ranker refitted per fold): STARD 5-fold CV recall@5 /
MRR@10 0.696 / 0.639 → 0.715 / 0.652 at 10 neighbours (5: 0.703, 20: 0.707, 40: 0.709); dev held-out
0.788 → 0.828 (written like the bank's questions: that split flatters it). `pufa eval`, re-ranker refitted:
STARD 0.697 / 0.644 → 0.711 / 0.652, dev held-out 0.794 / 0.773 → 0.830 / 0.836.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexing.article_rows import ArticleRows
from indexing.rerank import BankPlainScore

NEIGHBOURS = 10  # bank questions whose articles share the "neighbours" feature


class BankPlain:
    """The bank's plain vectors (not copied: the bank holds them), grouped by article."""

    def __init__(self, vectors: np.ndarray, keys: Sequence[str]) -> None:
        if len(vectors) != len(keys):
            raise ValueError(f"{len(vectors)} plain vectors for {len(keys)} bank questions")
        self._vectors = np.asarray(vectors, dtype=np.float32)
        self._rows = ArticleRows(keys)

    def view(self, query: np.ndarray) -> PlainNeighbours:
        """How close each article's bank questions lie to the plain vector of a question."""
        rows = self._rows
        if not len(self._vectors):
            return PlainNeighbours(np.empty(0, np.float32), np.empty(0), rows.number)
        cosines = self._vectors @ np.asarray(query, dtype=np.float32)
        closest = np.argpartition(-cosines, min(NEIGHBOURS, len(cosines) - 1))[:NEIGHBOURS]
        share = np.bincount(rows.article_of_row[closest], minlength=len(rows)) / len(closest)
        return PlainNeighbours(rows.best(cosines), share, rows.number)


@dataclass(frozen=True)
class PlainNeighbours:
    best: np.ndarray  # per article with bank questions: its closest question's cosine
    share: np.ndarray  # per such article: its share of the NEIGHBOURS closest questions
    number: dict[str, int]  # article key → its place in those arrays

    def scores(self, keys: Sequence[str]) -> list[BankPlainScore]:
        """The view of each of `keys`; cosine None for an article without bank questions."""
        out = []
        for key in keys:
            n = self.number.get(key)
            out.append(BankPlainScore(None, 0.0) if n is None else BankPlainScore(float(self.best[n]),
                                                                                   float(self.share[n])))
        return out
