"""Matching a question to the curated answers: reuse a reviewer's answer for a question close enough.

The active curated answers' questions are embedded with the question encoder the retriever uses and held
in memory as one matrix, so a match costs one matrix-vector product on the vector the question already
has. The table is re-read in the background when it changed (checked every REFRESH_S seconds by one cheap
query), so every worker sharing the database picks up an edit, a retirement or a new answer within that time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.staff.approval import ACTIVE
from bot.staff.curated import CuratedAnswer, list_curated

log = logging.getLogger(__name__)
Embed = Callable[[str], np.ndarray]

# Measured on the dev set's tuning split by scripts/measure_curated_threshold.py (cosine between
# `Retriever.embed_question` vectors). Re-run it whenever the query encoder changes.
# With the question encoder distilled into a token table (indexing/static_encoder.py): asked against all
# 331 other tune questions as curated answers, 0.965 matches 2 with disjoint gold articles (wrong), 0.97
# none wrong of 10, 0.975 none wrong of 8 (6 same gold, 2 overlapping). A wrong curated answer is worse
# than the retrieved one, so the threshold sits above every wrong pair with some room, and only
# near-identical wording is reused ("借条丢了还能要回钱吗" / "借条丢了 还能要回钱吗" 0.999, with a
# comma 0.997; "借钱不还怎么办" / "借钱不还咋办" 0.992). (With the transformer encoder and the adapter,
# wrong pairs reached 0.975 and the threshold was 0.98.)
MATCH_THRESHOLD = 0.975
REFRESH_S = 5.0  # how often the app checks the table for changes


@dataclass(frozen=True, slots=True)
class CuratedMatch:
    """A curated answer as the bot uses it: a snapshot, safe to pass between threads."""

    id: int
    answer: str
    article_keys: tuple[str, ...]  # Article.key, in the order the reviewer chose
    category: str
    similarity: float = 0.0  # cosine between the question asked and the curated question


@dataclass(frozen=True, slots=True)
class _Bank:
    """The active curated answers and their question vectors (row i is answers[i])."""

    version: tuple[int, datetime | None]  # (rows, latest updated_at) of the whole table
    answers: tuple[CuratedMatch, ...]
    vectors: np.ndarray  # (n, dim) unit vectors
    by_question: dict[str, np.ndarray]  # question text → vector, so an edit re-embeds only what changed


_EMPTY = _Bank(version=(0, None), answers=(), vectors=np.zeros((0, 0), dtype=np.float32), by_question={})


class CuratedMatcher:
    """Finds the active curated answer closest to a question's vector; shared by the consultation threads.

    `match` works from memory only, so a slow or unreachable database never delays a reply; the app calls
    `refresh` every REFRESH_S seconds in the background.
    """

    def __init__(
        self, sessions: sessionmaker[Session], embed: Embed, *, threshold: float = MATCH_THRESHOLD
    ) -> None:
        """`embed`: the retriever's `embed_question`, so curated and asked questions share one space."""
        self._sessions = sessions
        self._embed = embed
        self.threshold = threshold
        self._bank = _EMPTY
        self._lock = threading.Lock()

    def match(self, vector: np.ndarray) -> CuratedMatch | None:
        """The closest active curated answer if its cosine with `vector` reaches the threshold, else None."""
        bank = self._bank  # one consistent snapshot, even while a refresh swaps in a new one
        if not bank.answers:
            return None
        scores = bank.vectors @ vector
        best = int(np.argmax(scores))
        if scores[best] < self.threshold:
            return None
        return replace(bank.answers[best], similarity=float(scores[best]))

    def refresh(self) -> bool:
        """Re-read the curated answers if the table changed since the last call; whether it had.

        One cheap query when nothing changed. Database errors propagate and leave the answers in use as
        they were.
        """
        with self._lock:
            with self._sessions() as session:
                version = _version(session)
                if version == self._bank.version:
                    return False
                self._bank = self._load(session, version)
        log.info("curated answers reloaded: %d active", len(self._bank.answers))
        return True

    def _load(self, session: Session, version: tuple[int, datetime | None]) -> _Bank:
        # Approved and not retired only: a volunteer's proposal never reaches a villager.
        rows = [row for row in list_curated(session, status=ACTIVE) if row.active]
        if not rows:
            return _Bank(version, (), _EMPTY.vectors, {})
        known = self._bank.by_question
        by_question = {
            question: known[question] if question in known else self._embed(question)
            for question in dict.fromkeys(row.question for row in rows)
        }
        answers = tuple(
            CuratedMatch(row.id, row.answer, tuple(row.article_keys), row.category) for row in rows
        )
        vectors = np.stack([by_question[row.question] for row in rows]).astype(np.float32)
        return _Bank(version, answers, vectors, by_question)


def _version(session: Session) -> tuple[int, datetime | None]:
    """Changes with any insert, edit, retirement or restoration (each sets updated_at)."""
    count, latest = session.execute(
        select(func.count(CuratedAnswer.id), func.max(CuratedAnswer.updated_at))
    ).one()
    return int(count), latest
