"""What a retrieval child sends back to its worker, through its pipe or the shared queue: article keys and
numbers, never article text (the worker looks them up in its own statutes)."""

from __future__ import annotations

import numpy as np

from bot.search.retrieval import Retrieval
from indexing.retrieval import Hit
from knowledge.corpus import Corpus

# A hit as sent back: (law, number, score, retrievers, chunk_id, dense_score, bm25_score, dense_margin).
# The worker has the articles: sending their text took ten times as long.
PackedHit = tuple[str, int, float, tuple[str, ...], str, float | None, float | None, float | None]
Packed = tuple[tuple[PackedHit, ...], np.ndarray, float]


def pack(found: Retrieval) -> Packed:
    """What a child sends back (through its pipe, pickled, or the queue, as JSON)."""
    hits = tuple((h.article.law, h.article.number, h.score, h.retrievers, h.chunk_id, h.dense_score,
                  h.bm25_score, h.dense_margin) for h in found.hits)  # fmt: skip
    return hits, found.vector, found.legal


def unpack(packed: Packed, corpus: Corpus) -> Retrieval:
    """`pack` undone with the worker's own articles."""
    hits, vector, legal = packed
    return Retrieval(hits=tuple(_hit(packed_hit, corpus) for packed_hit in hits), vector=vector, legal=legal)


def _hit(packed: PackedHit, corpus: Corpus) -> Hit:
    law, number, score, retrievers, chunk_id, dense_score, bm25_score, dense_margin = packed
    article = corpus.get(law, number)
    if article is None:
        raise LookupError("the retrieval process found an article the worker does not have")
    return Hit(article=article, score=score, retrievers=retrievers, chunk_id=chunk_id,
               dense_score=dense_score, bm25_score=bm25_score, dense_margin=dense_margin)  # fmt: skip
