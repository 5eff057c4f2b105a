"""Rows grouped by their article, so that each article's best value over its rows is one `maximum.reduceat`.

The plain encoder's view of the articles (`indexing.plain_encoder`, rows: chunks) and of the question bank
(`indexing.bank_plain`, rows: bank questions) both take, per article, the best cosine of its rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ArticleRows:
    """`order` lists the rows article by article (articles by key); `starts` where each article's run begins in
    it; `keys` those articles; `number` an article's place among them; `article_of_row` each row's."""

    def __init__(self, article_of_row: Sequence[str]) -> None:
        self.order = np.array(sorted(range(len(article_of_row)), key=article_of_row.__getitem__), dtype=np.int64)
        ordered = [article_of_row[row] for row in self.order.tolist()]
        self.starts = np.array([i for i, key in enumerate(ordered) if i == 0 or key != ordered[i - 1]],
                               dtype=np.int64)  # fmt: skip
        self.keys = tuple(ordered[start] for start in self.starts.tolist())
        self.number = {key: n for n, key in enumerate(self.keys)}
        self.article_of_row = np.empty(len(ordered), dtype=np.int64)
        self.article_of_row[self.order] = np.searchsorted(self.starts, np.arange(len(ordered)), side="right") - 1

    def __len__(self) -> int:
        """How many articles."""
        return len(self.keys)

    def best(self, values: np.ndarray) -> np.ndarray:
        """Each article's largest value among its rows' `values` (row order), in `keys` order."""
        return np.maximum.reduceat(values[self.order], self.starts)
