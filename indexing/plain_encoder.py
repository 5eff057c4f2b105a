"""The plain question encoder: the bundled model's own question side, without the question adapter.

The adapter and the token table distilled from it were fitted on the team's written questions. On real
people's questions the untouched model often ranks articles better, so the re-ranker also reads its
view of each candidate (`PlainScore`), and its nearest articles join the candidates
(`indexing.retrieval.FUSION_WEIGHTS`). With the citation counts of `indexing.question_bank` beside it,
`pufa eval`: STARD 5-fold CV recall@5 / MRR@10 0.657 / 0.610 → 0.686 / 0.624, dev held-out 0.755 / 0.666
→ 0.764 / 0.689 (issue 21's notes give each lever's share). Questions reach it as typed, not lexicon-expanded: the
expansion's legal terms were chosen for the adapted side.

It runs as the int8 ONNX export of the document model (`indexing.onnx_encoder`), made by `pufa build`
into the model cache, so that answering processes need no torch: about 12 ms a question on one core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexing.article_rows import ArticleRows
from indexing.onnx_encoder import OnnxQueryEncoder, export_dir_for, export_query_model
from indexing.rerank import PlainScore

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from indexing.embedder import Embedder, QueryEncoder


class PlainScorer:
    """Each article's best-chunk cosine with a question under the plain encoder, and its rank."""

    def __init__(self, encoder: QueryEncoder, vectors: np.ndarray, article_of_row: Sequence[str]) -> None:
        self.encoder = encoder
        self._vectors = np.asarray(vectors, dtype=np.float32)  # the index's: not copied
        self._rows = ArticleRows(article_of_row)
        # The search and the on-topic model (`Retriever.legal_probability`) read the same question's vector.
        self.vector = lru_cache(maxsize=64)(self._encode)

    def _encode(self, question: str) -> np.ndarray:
        vector: np.ndarray = self.encoder.encode([question])[0]
        vector.flags.writeable = False  # shared through the cache
        return vector

    def view(self, question: str) -> PlainView:
        """How the plain encoder sees every article for `question` (as typed)."""
        query = self.vector(question)
        return PlainView(self._rows.best(self._vectors @ query), self._rows.keys, self._rows.number, query)


@dataclass(frozen=True)
class PlainView:
    best: np.ndarray  # each article's best-chunk cosine, in the scorer's article order
    keys: tuple[str, ...]  # that order's article keys
    number: dict[str, int]  # article key → its place in that order
    query: np.ndarray  # the question's plain vector (`indexing.bank_plain` compares it with the bank's)

    def ranking(self, limit: int) -> list[str]:
        """The `limit` articles closest to the question, closest first (ties by key)."""
        top = np.argsort(-self.best, kind="stable")[:limit]
        return [self.keys[n] for n in top.tolist()]

    def scores(self, keys: Sequence[str]) -> list[PlainScore]:
        """The view of each of `keys` (articles of the index)."""
        top = float(self.best.max())
        out = []
        for key in keys:
            cosine = float(self.best[self.number[key]])
            out.append(PlainScore(cosine, cosine - top, int(np.count_nonzero(self.best > cosine))))
        return out


def export_plain_encoder(embedder: Embedder, cache_dir: Path) -> Path:
    """The ONNX export of the embedder's document model (its question side without any adapter)."""
    model_id = embedder.document_model_id
    return export_query_model(embedder.model, export_dir_for(cache_dir, model_id), model_id=model_id)


def load_plain_encoder(
    cache_dir: Path, model_id: str, tokenizer: Tokenizer | None = None
) -> OnnxQueryEncoder | None:
    """The exported plain encoder of `model_id`, or None when `pufa build` has not exported it.
    `tokenizer`: the model's, shared with the question encoder (`Embedder.shared_tokenizer`)."""
    return OnnxQueryEncoder.from_export(export_dir_for(cache_dir, model_id), model_id, tokenizer=tokenizer)
