"""Rank fusion of several retrievers' result lists."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

RRF_K = 60  # Cormack, Clarke & Büttcher (SIGIR 2009); not the k of top-k.


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], *, rrf_k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Fuse ranked lists (best first): score(d) = Σ wᵢ / (rrf_k + rankᵢ(d)), ranks from 1.

    Ties keep the order in which items were first seen, so the result is deterministic.
    """
    weights = weights or [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (rrf_k + rank)
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
