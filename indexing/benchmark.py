"""Retrieval benchmark: single warm question latency, index build time from scratch, peak RSS."""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexing.build import build_index, load_retriever
from indexing.embedder import Embedder, QueryEncoder
from indexing.retrieval import Retriever
from knowledge.corpus import Corpus


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def benchmark_retrieval(corpus: Corpus, embedder: Embedder, questions: Sequence[str],
                        rounds: int = 3, plain: QueryEncoder | None = None) -> dict[str, float]:
    """Build the corpus' index from scratch in a temp dir, then time each question `rounds` times.
    `plain`: the plain question encoder the re-ranker reads, as served (`indexing.plain_encoder`)."""
    with tempfile.TemporaryDirectory(prefix="pufa-bench-") as tmp:
        start = time.perf_counter()
        build_index(corpus, embedder, Path(tmp) / "index", plain=plain)
        build_s = time.perf_counter() - start
        retriever = load_retriever(Path(tmp) / "index", corpus, embedder, plain=plain)
        retriever.search(questions[0])  # warm-up: first call loads jieba's dictionary
        rerank_ms = _time_reranking(retriever)
        timings = []
        for _ in range(rounds):
            for q in questions:
                t0 = time.perf_counter()
                retriever.search(q, k=10)
                timings.append((time.perf_counter() - t0) * 1000)
    return {
        "questions": len(questions) * rounds,
        "query_ms_p50": round(float(np.percentile(timings, 50)), 2),
        "query_ms_p99": round(float(np.percentile(timings, 99)), 2),
        # the re-ranking stage alone (features and scores of the fused candidates), within query_ms
        "rerank_ms_p50": round(float(np.percentile(rerank_ms, 50)), 2) if rerank_ms else 0.0,
        "index_build_s": round(build_s, 1),
        "chunks": len(retriever.chunks),
        "rss_mb": round(peak_rss_mb(), 1),
    }


def _time_reranking(retriever: Retriever) -> list[float]:
    """Wrap this retriever's re-ranking stage with a timer; the list fills as questions are searched."""
    timings: list[float] = []
    stage = retriever._reranked  # noqa: SLF001 - timed on this one instance, not changed

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return stage(*args, **kwargs)
        finally:
            timings.append((time.perf_counter() - t0) * 1000)

    retriever._reranked = timed  # type: ignore[method-assign]  # noqa: SLF001
    return timings
