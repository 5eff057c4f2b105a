"""consult: question cleaning, error descriptions without user text, and the deadline on retrieval."""

from __future__ import annotations

import threading
import time

import pytest

from bot import replies
from bot.consult import Consultant, clean_question, describe_error
from bot.dialogue import command_of
from indexing.retrieval import Hit, Retriever
from tests.reply_checks import TOWNSHIP


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  邻居\u200b借钱\u3000不还\n怎么办 ", "邻居借钱 不还 怎么办"),
        ("ｗｅｃｈａｔ１２３", "wechat123"),
        ("😀🙏", ""),
        ("\u200b\u200d\ufeff", ""),
        ("？！。…", ""),
        ("\x00\x07", ""),
        ("a" * 600, "a" * 500),
    ],
    ids=["zero-width", "full-width", "emoji", "format-chars", "punctuation", "controls", "long"],
)
def test_clean_question(raw: str, clean: str) -> None:
    assert clean_question(raw) == clean


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

    def search(self, question: str, k: int = 10, mode: str = "hybrid") -> list[Hit]:
        self.release.wait(5)
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
