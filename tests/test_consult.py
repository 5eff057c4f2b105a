"""consult: question cleaning, error descriptions without user text, and the deadline on retrieval."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.answers import replies
from bot.conversation.consultation import Consultant, clean_message
from bot.conversation.curated_match import CuratedMatcher
from bot.conversation.dialogue import command_of
from bot.errors import describe_error
from bot.staff.curated import create_curated
from bot.staff.users import STAFF, create_user
from indexing.embedder import Embedder
from indexing.retrieval import Hit, Retriever
from tests.reply_checks import TOWNSHIP


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  邻居\u200b借钱\u3000不还\n怎么办 ", "邻居借钱 不还 怎么办"),
        ("ｗｅｃｈａｔ１２３", "ｗｅｃｈａｔ１２３"),
        ("我爸妈老了，哥哥不给养老钱怎么办？", "我爸妈老了，哥哥不给养老钱怎么办？"),
        ("😀🙏", ""),
        ("\u200b\u200d\ufeff", ""),
        ("？！。…", ""),
        ("\x00\x07", ""),
        ("a" * 600, "a" * 500),
    ],
    ids=["zero-width", "full-width", "chinese-punctuation", "emoji", "format-chars", "punctuation", "controls", "long"],
)
def test_clean_question(raw: str, clean: str) -> None:
    assert clean_message(raw) == clean


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("更多", "more"),
        (" 更多。", "more"),
        ("人工！", "person"),
        ("调解", "person"),
        ("帮助?", "help"),
        ("HELP", "help"),
        ("更多的钱", None),
        ("调解协议有效吗", None),
    ],
)
def test_commands(text: str, command: str | None) -> None:
    assert command_of(text) == command


def test_error_description_leaves_out_the_message() -> None:
    try:
        raise ValueError("邻居借了我五千块钱")
    except ValueError as exc:
        described = describe_error(exc)
    assert described.startswith("ValueError at ") and "五千" not in described


class _Blocking:
    """A retriever stuck until released; stands in for a hung index."""

    def __init__(self, corpus: object) -> None:
        self.corpus = corpus
        self.release = threading.Event()

    def embed_question(self, question: str) -> np.ndarray:
        self.release.wait(5)
        return np.zeros(4, dtype=np.float32)

    def legal_probability(self, question: str, query_vector: np.ndarray) -> float:
        return 1.0

    def search(
        self, question: str, k: int = 10, mode: str = "hybrid", *, query_vector: np.ndarray | None = None
    ) -> list[Hit]:
        return []


def test_stuck_retrieval_gives_the_fallback_at_the_deadline(mini_retriever: Retriever) -> None:
    stuck = _Blocking(mini_retriever.corpus)
    consultant = Consultant(stuck, TOWNSHIP, workers=1)  # type: ignore[arg-type]
    try:
        started = time.monotonic()
        outcome = consultant.ask("有人打我", deadline=started + 0.3)
        elapsed = time.monotonic() - started
        assert 0.25 < elapsed < 0.6
        assert outcome.fallback and outcome.hits == ()
        assert replies.fallback(TOWNSHIP) in outcome.answer.text
        assert outcome.answer.emergency and outcome.answer.text.index("110") < outcome.answer.text.index(
            "抱歉"
        )
        queued = consultant.ask(
            "第二个问题", deadline=time.monotonic() + 0.1
        )  # the only worker is still stuck
        assert queued.fallback
    finally:
        stuck.release.set()
        consultant.close()


class _CountingEncoder:
    """The real embedder, counting the questions it encodes."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.calls = 0

    def encode_query(self, text: str) -> np.ndarray:
        self.calls += 1
        return self.inner.encode_query(text)


def test_a_question_close_to_a_curated_one_gets_the_curated_answer_encoded_once(
    mini_retriever: Retriever, db_session: Session, db_session_factory: sessionmaker[Session]
) -> None:
    staff = create_user(db_session, username="wang", password="staff-password", role=STAFF)
    item = create_curated(
        db_session, question="借条丢了还能要回钱吗", answer="转账记录也能证明借款。",
        article_keys=["中华人民共和国民法典:675"], category="借贷欠款", author=staff,
    )  # fmt: skip
    encoder = _CountingEncoder(mini_retriever.embedder)
    retriever = Retriever(corpus=mini_retriever.corpus, chunks=mini_retriever.chunks,
                          vectors=mini_retriever.vectors, keywords=mini_retriever.keywords,
                          embedder=encoder)  # type: ignore[arg-type]  # fmt: skip
    matcher = CuratedMatcher(db_session_factory, retriever.embed_question)
    matcher.refresh()
    consultant = Consultant(retriever, TOWNSHIP, workers=1, matcher=matcher)
    try:
        encoder.calls = 0
        reused = consultant.ask("借条丢了 还能要回钱吗", deadline=time.monotonic() + 30)
        assert encoder.calls == 1
        assert reused.answer.curated_id == item.id and "转账记录也能证明借款。" in reused.answer.text
        assert reused.hits and not reused.fallback  # retrieval still ran, for the record
        other = consultant.ask("狗咬伤了人谁负责", deadline=time.monotonic() + 30)
        assert other.answer.curated_id is None and "转账记录" not in other.answer.text
        assert encoder.calls == 2
    finally:
        consultant.close()
