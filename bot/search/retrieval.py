"""A question's search, apart from the request: on a few threads of this process, or in the worker's child
process (`bot.search.child_process`), which takes the same `RetrievalPool` shape."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from indexing.retrieval import Hit, Retriever

RETRIEVAL_K = 10
# Questions searched at once. With the ONNX encoder their encodings share batches (indexing.query_batcher),
# so the pool must be at least the batch size for a burst to fill them. The token table encodes a question
# in 0.2 ms; then many threads only take turns at the GIL and stretch every search (16 threads: 58
# requests/s, 4: 74, 2: 70 on 2 cores). A few more than the cores keep the pool answering when a search
# is stuck.
BATCHED_RETRIEVAL_THREADS = 16
RETRIEVAL_THREADS = 4


def retrieval_threads(retriever: Retriever) -> int:
    """The pool size that suits the retriever's question encoder."""
    return BATCHED_RETRIEVAL_THREADS if retriever.embedder.query_backend == "onnx" else RETRIEVAL_THREADS


@dataclass(frozen=True, slots=True)
class Retrieval:
    """What retrieval found for a question: the hits, the question's vector (for the curated answers) and
    how likely it is a legal question."""

    hits: tuple[Hit, ...]
    vector: np.ndarray
    legal: float


def retrieve(retriever: Retriever, question: str) -> Retrieval:
    # Encoded once, for the search, the on-topic model and the curated match.
    vector = retriever.embed_question(question)
    # Searched even for a curated answer: the record keeps what retrieval found, for the reviewers.
    hits = tuple(retriever.search(question, k=RETRIEVAL_K, query_vector=vector))
    return Retrieval(hits=hits, vector=vector, legal=retriever.legal_probability(question, vector))


class RetrievalPool(Protocol):
    """Where questions are searched: threads of this process, or a child process (bot.search.child_process)."""

    def submit(self, question: str) -> Future[Retrieval]: ...

    def close(self) -> None: ...


class RetrievalThreads:
    """Searches on a small pool of threads in this process."""

    def __init__(self, retriever: Retriever, threads: int) -> None:
        self.retriever = retriever
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pufa-retrieval")

    def submit(self, question: str) -> Future[Retrieval]:
        return self._pool.submit(retrieve, self.retriever, question)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
