"""Confidence: how sure we are that the retrieved articles answer the question, from 0 to 1.

The fused retrieval score is only comparable within one question, so it cannot say "nothing relevant".
The dense cosine can: multilingual-e5 gives about 0.75–0.9 for a relevant article and less for an
unrelated one. Agreement between retrievers (found by both keywords and meaning) adds to it, and an
article the villager cited directly is certain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from indexing.retrieval import Hit

# Below the floor a cosine says nothing; at the ceiling it is as sure as a dense score gets.
DENSE_FLOOR = 0.74
DENSE_CEILING = 0.88
# Share of a hit's strength that comes from the dense cosine; the rest from retriever agreement.
DENSE_WEIGHT = 0.8


def hit_strength(hit: Hit) -> float:
    """0..1 for one hit: 1.0 when cited directly, else scaled cosine plus a bonus when retrievers agree."""
    if "direct" in hit.retrievers:
        return 1.0
    dense = 0.0
    if hit.dense_score is not None:
        dense = (hit.dense_score - DENSE_FLOOR) / (DENSE_CEILING - DENSE_FLOOR)
        dense = min(max(dense, 0.0), 1.0)
    agree = 1.0 if len(set(hit.retrievers)) >= 2 else 0.0
    return DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * agree


def confidence(hits: Sequence[Hit]) -> float:
    """The strength of the best hit; 0.0 without hits."""
    return max((hit_strength(hit) for hit in hits), default=0.0)
