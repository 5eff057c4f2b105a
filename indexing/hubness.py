"""Hubness correction for dense retrieval.

Some statute chunks (不当得利, 违约责任 …) sit close to almost every question and crowd out the
right article. Following CSLS (Conneau et al., "Word translation without parallel data", ICLR 2018),
each chunk is penalised by its mean cosine to its k nearest questions from a pool of typical
villager questions; ranking uses cos(q, d) - penalty(d). Measured with `pufa eval` on the held-out
development questions: dense recall@5 0.392 → 0.479 (k = 30).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np

HUB_K = 30


@cache
def default_query_pool() -> tuple[str, ...]:
    """Typical villager questions (the tuning split of the dev set; see scripts/make_query_pool.py)."""
    text = resources.files("indexing").joinpath("data", "query_pool.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def hub_penalties(doc_vectors: np.ndarray, pool_vectors: np.ndarray, k: int = HUB_K) -> np.ndarray:
    """Mean cosine of each document row to its k most similar pool questions (0 for an empty pool)."""
    if len(pool_vectors) == 0 or len(doc_vectors) == 0:
        return np.zeros(len(doc_vectors), dtype=np.float32)
    sims = doc_vectors @ pool_vectors.T
    k = min(k, sims.shape[1])
    means: np.ndarray = np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1).astype(np.float32)
    return means
