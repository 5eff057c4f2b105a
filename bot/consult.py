"""Consultation: one question → retrieval and a composed (or curated) answer within the reply budget, else a
fallback.

Retrieval runs apart from the request, in a small pool of threads or in the worker's child process
(`bot.retrieval_process`), so that a slow or stuck search costs the villager a fallback reply, never
WeChat's "该公众号暂时无法提供服务".
"""

from __future__ import annotations

import logging
import time
import traceback
import unicodedata
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot import replies, topics
from bot.answer import Answer, compose_answer, compose_curated, compose_more
from bot.emergency import emergency_lines, is_emergency
from bot.township import Township
from indexing.retrieval import Hit, Retriever

if TYPE_CHECKING:
    from bot.curated_match import CuratedMatcher

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500  # longer messages are pasted documents; their start carries the question
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


def clean_question(text: str) -> str:
    """The text as typed, without control, format (zero-width) or unassigned characters, whitespace
    collapsed; "" when no letter or digit is left (emoji only, punctuation only, blank).

    Not NFKC-folded: volunteers read the stored question, and "，" turned into "," is not what the
    villager wrote. The encoder's tokenizer folds by itself and mask_pii folds full-width digits.
    """
    kept = "".join(ch for ch in text if ch.isspace() or not unicodedata.category(ch).startswith("C"))
    collapsed = " ".join(kept.split())
    letters = unicodedata.normalize("NFKC", collapsed)
    if not any(unicodedata.category(ch)[0] in "LN" for ch in letters):
        return ""
    return collapsed[:MAX_QUESTION_CHARS]


def describe_error(exc: BaseException) -> str:
    """Exception type and where it was raised, without its message (which may quote the question)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a question got: the hits, the answer and whether it is the fallback."""

    hits: tuple[Hit, ...]
    answer: Answer
    fallback: bool = False


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
    return Retrieval(hits=hits, vector=vector, legal=retriever.legal_probability(vector))


class RetrievalPool(Protocol):
    """Where questions are searched: threads of this process, or a child process (bot.retrieval_process)."""

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


class Consultant:
    """Answers questions from a Retriever, or from a curated answer close enough, each within a deadline."""

    def __init__(
        self,
        retriever: Retriever,
        township: Township,
        *,
        workers: int | None = None,
        matcher: CuratedMatcher | None = None,
        pool: RetrievalPool | None = None,
    ) -> None:
        """`pool`: where questions are searched (default: `workers` threads of this process)."""
        self.retriever = retriever
        self.township = township
        self.matcher = matcher
        threads = workers if workers is not None else retrieval_threads(retriever)
        self._pool = pool if pool is not None else RetrievalThreads(retriever, threads)

    def ask(self, question: str, *, deadline: float) -> Outcome:
        """The composed answer, or the fallback when retrieval fails or would miss `deadline` (monotonic)."""
        try:
            future = self._pool.submit(question)
            found = future.result(timeout=max(0.0, deadline - time.monotonic()))
            return Outcome(hits=found.hits, answer=self._compose(question, found))
        except FutureTimeout:
            future.cancel()  # still queued behind slow searches: drop it
            log.warning("retrieval missed the reply budget; sending the fallback")
        except Exception as exc:  # noqa: BLE001 - any failure must still give the villager a reply
            log.error("retrieval or composing failed: %s", describe_error(exc))
        return Outcome(hits=(), answer=self._fallback(question), fallback=True)

    def more(self, keys: tuple[str, ...]) -> Answer:
        """The next held-back articles of a user's last question."""
        return compose_more(keys, corpus=self.retriever.corpus, township=self.township)

    def close(self) -> None:
        self._pool.close()

    def _compose(self, question: str, found: Retrieval) -> Answer:
        """A curated answer when one was written for a question close enough, else one from the hits."""
        corpus, township = self.retriever.corpus, self.township
        curated = self.matcher.match(found.vector) if self.matcher is not None else None
        if curated is not None:
            return compose_curated(question, curated, corpus=corpus, township=township)
        return compose_answer(question, found.hits, corpus=corpus, township=township, legal=found.legal)

    def _fallback(self, question: str) -> Answer:
        emergency = is_emergency(question)
        text = "\n".join((*emergency_lines(question), replies.fallback(self.township)))
        return Answer(
            text=text,
            category=topics.OTHER,
            cited=(),
            more=(),
            confidence=0.0,
            no_hit=False,
            emergency=emergency,
        )
