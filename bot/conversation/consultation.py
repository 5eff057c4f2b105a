"""Consultation: one question → retrieval and a composed (or curated) answer within the reply budget, else a
fallback.

Retrieval runs apart from the request, in a small pool of threads or in the worker's child process
(`bot.search.child_process`), so that a slow or stuck search costs the villager a fallback reply, never
WeChat's "该公众号暂时无法提供服务".
"""

from __future__ import annotations

import logging
import time
import unicodedata
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.answers import replies, topics
from bot.answers.composer import Answer, compose_answer, compose_card, compose_curated, compose_more
from bot.answers.emergency import emergency_lines, is_emergency
from bot.answers.township import Township
from bot.errors import describe_error
from bot.search.retrieval import Retrieval, RetrievalPool, RetrievalThreads, retrieval_threads
from indexing.retrieval import Hit, Retriever

if TYPE_CHECKING:
    from bot.conversation.card_match import CardMatcher
    from bot.conversation.curated_match import CuratedMatcher

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500  # longer messages are pasted documents; their start carries the question
def clean_message(text: str) -> str:
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


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a question got: the hits, the answer and whether it is the fallback."""

    hits: tuple[Hit, ...]
    answer: Answer
    fallback: bool = False


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
        cards: CardMatcher | None = None,
    ) -> None:
        """`pool`: where questions are searched (default: `workers` threads of this process)."""
        self.retriever = retriever
        self.township = township
        self.matcher = matcher
        self.cards = cards
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
        """A curated answer when one was written for a question close enough, else one led by the situation
        card that matches, else one from the hits."""
        corpus, township = self.retriever.corpus, self.township
        curated = self.matcher.match(found.vector) if self.matcher is not None else None
        if curated is not None:
            return compose_curated(question, curated, corpus=corpus, township=township)
        card = self.cards.match(found.vector, found.hits) if self.cards is not None else None
        if card is not None:
            return compose_card(question, card.card, found.hits, corpus=corpus, township=township)
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
