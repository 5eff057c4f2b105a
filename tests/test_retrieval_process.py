"""retrieval_process: what a real spawned child finds equals what the worker finds itself; a child that
dies or cannot start leaves the worker answering in its threads; closing ends the child. With Redis, any
worker's child answers from the shared queue, and an unreachable Redis leaves the worker on its threads."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from bot.search import child_process as retrieval_process
from bot.search.child_process import RetrievalProcess, RetrievalProcessDied
from bot.search.pipeline import bank_questions
from bot.search.retrieval import Retrieval, RetrievalThreads, retrieve
from bot.search.shared_queue import SharedQueue
from bot.search.wire import pack
from bot.settings import Settings
from indexing.build import load_retriever
from indexing.embedder import Embedder
from indexing.onnx_encoder import OnnxQueryEncoder
from indexing.retrieval import Retriever
from knowledge.corpus import load_corpus
from tests.fixtures.serve import MEDIATION_LAW
from tests.fixtures.web import free_port

QUESTIONS = ("邻居吵架了，村里的调解员能帮忙调解吗", "调解协议签了以后对方不履行怎么办", "人民调解要交钱吗")
START_S = 240.0  # a spawned child imports the model stack and loads the index: slow on a busy CI machine


def _settings(data_dir: Path, **overrides: object) -> Settings:
    values = {"data_dir": data_dir, "laws": (MEDIATION_LAW,), **overrides}
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def mediation_retriever(mediation_data_dir: Path, embedder: Embedder, plain_encoder: OnnxQueryEncoder) -> Retriever:
    """What the child loads too: the index, and the plain encoder for the re-ranker."""
    corpus = load_corpus([MEDIATION_LAW])
    return load_retriever(mediation_data_dir / "index", corpus, embedder, plain=plain_encoder,
                          questions=bank_questions(corpus))  # fmt: skip


@pytest.fixture(scope="module")
def child(mediation_data_dir: Path, mediation_retriever: Retriever) -> Iterator[RetrievalProcess]:
    process = RetrievalProcess(_settings(mediation_data_dir))
    started = process.start()
    process.fallback = RetrievalThreads(mediation_retriever, threads=2)
    started.result(timeout=START_S)
    yield process
    process.close()


def _child_pids() -> set[int]:
    return {p.pid for p in multiprocessing.active_children() if p.pid is not None}


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _same(a: Retrieval, b: Retrieval) -> None:
    """The same hits (articles, scores, retrievers, chunks), vector and on-topic probability: the same code
    on the same index, so equal to the last bit."""
    assert a.hits == b.hits
    assert a.legal == b.legal and a.vector.tolist() == b.vector.tolist()


def test_the_child_finds_what_the_worker_would(
    child: RetrievalProcess, mediation_retriever: Retriever
) -> None:
    assert child.in_child
    for question in QUESTIONS:
        found = child.submit(question).result(timeout=30)
        assert found.hits and {h.article.law for h in found.hits} == {MEDIATION_LAW}
        _same(found, retrieve(mediation_retriever, question))


def test_a_killed_child_is_replaced_and_threads_answer_meanwhile(
    child: RetrievalProcess, mediation_retriever: Retriever, caplog: pytest.LogCaptureFixture
) -> None:
    (victim,) = _child_pids()
    caplog.set_level(logging.ERROR, logger="bot.search.child_process")
    os.kill(victim, signal.SIGKILL)
    found: list[Retrieval | None] = []

    def ask() -> bool:
        try:
            found.append(child.submit(QUESTIONS[0]).result(timeout=30))
        except RetrievalProcessDied:  # sent to the child just before its end was seen
            found.append(None)
        return not child.in_child

    _wait_for(ask, 30)
    assert "retrieval process died" in caplog.text
    assert found.count(None) <= 1
    expected = retrieve(mediation_retriever, QUESTIONS[0])
    for each in filter(None, found):
        _same(each, expected)
    in_threads = child.submit(QUESTIONS[1]).result(timeout=30)
    _same(in_threads, retrieve(mediation_retriever, QUESTIONS[1]))
    _wait_for(lambda: child.in_child, START_S)
    assert victim not in _child_pids() and len(_child_pids()) == 1
    _same(child.submit(QUESTIONS[2]).result(timeout=30), retrieve(mediation_retriever, QUESTIONS[2]))


def test_a_child_that_cannot_load_leaves_the_worker_on_its_threads(
    mediation_data_dir: Path, mediation_retriever: Retriever, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.search.child_process")
    before = _child_pids()
    process = RetrievalProcess(_settings(mediation_data_dir, laws=("中华人民共和国不存在法",)))
    try:
        started = process.start()
        process.fallback = RetrievalThreads(mediation_retriever, threads=1)
        with pytest.raises(RuntimeError, match="in the retrieval process: .*Error"):
            started.result(timeout=START_S)
        _wait_for(lambda: "retrieval process did not start" in caplog.text, 10)
        assert not process.in_child
        in_threads = process.submit(QUESTIONS[0]).result(timeout=30)
        _same(in_threads, retrieve(mediation_retriever, QUESTIONS[0]))
        _wait_for(lambda: _child_pids() == before, 30)  # the child ended after saying why
    finally:
        process.close()


def test_closing_ends_the_child(child: RetrievalProcess) -> None:
    (pid,) = _child_pids()
    child.close()
    _wait_for(lambda: pid not in _child_pids(), 30)


class _CountingThreads(RetrievalThreads):
    """The worker's own threads, counting the questions that fell back to them."""

    def __init__(self, retriever: Retriever) -> None:
        super().__init__(retriever, threads=1)
        self.asked = 0

    def submit(self, question: str) -> Future[Retrieval]:
        self.asked += 1
        return super().submit(question)


def test_with_redis_the_child_answers_any_workers_questions(
    mediation_data_dir: Path, mediation_retriever: Retriever, redis_url: str
) -> None:
    """Questions go to the deployment's queue: this worker's are answered there, and so is a question another
    worker put there, on that worker's own answer list, to the last bit as the worker would find it."""
    settings = _settings(mediation_data_dir, redis_url=redis_url)
    before = _child_pids()
    process = RetrievalProcess(settings)
    threads = _CountingThreads(mediation_retriever)
    other = SharedQueue.for_settings(settings)
    assert other is not None
    try:
        started = process.start()
        process.fallback = threads
        started.result(timeout=START_S)
        for question in QUESTIONS[:2]:
            _same(process.submit(question).result(timeout=30), retrieve(mediation_retriever, question))
        assert threads.asked == 0
        reply_key = other.reply_key("another-worker")
        for number, question in enumerate(QUESTIONS, start=7):  # queued at once: taken with the answers
            other.put(reply_key, number, question)
        answers = []
        for _ in range(30):  # each wait is up to POLL_S
            if len(answers) == len(QUESTIONS):
                break
            if (answer := other.answer_for(reply_key)) is not None:
                answers.append(answer)
        assert [(number, found) for number, found, _ in answers] == [(7, True), (8, True), (9, True)]
        for (_, _, packed), question in zip(answers, QUESTIONS, strict=True):
            expected = pack(retrieve(mediation_retriever, question))
            assert packed[0] == expected[0] and packed[2] == expected[2]
            assert packed[1].tolist() == expected[1].tolist()
    finally:
        process.close()
        other.close()
    _wait_for(lambda: _child_pids() == before, 30)


def test_with_redis_unreachable_the_worker_answers_in_its_threads(
    mediation_data_dir: Path, mediation_retriever: Retriever
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    before = _child_pids()
    process = RetrievalProcess(_settings(mediation_data_dir, redis_url=closed))
    threads = _CountingThreads(mediation_retriever)
    try:
        started = process.start()
        process.fallback = threads
        started.result(timeout=START_S)
        assert process.in_child
        _same(process.submit(QUESTIONS[0]).result(timeout=30), retrieve(mediation_retriever, QUESTIONS[0]))
        assert threads.asked == 1
    finally:
        process.close()
    _wait_for(lambda: _child_pids() == before, 30)  # the child, waiting for Redis, still hears the stop


def test_a_child_told_to_stop_answers_the_question_it_took_and_leaves_the_rest(
    mediation_data_dir: Path, mediation_retriever: Retriever, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child takes the next question with each answer: a stop that comes meanwhile must not drop it
    (its worker would wait for its deadline), nor take another."""
    queue = SharedQueue.for_settings(_settings(mediation_data_dir, redis_url=redis_url), key="pufa:test:stop")
    assert queue is not None
    ours, theirs = multiprocessing.Pipe()
    search = retrieval_process._search

    def stopped_while_searching(retriever: Retriever, question: str) -> tuple[bool, object]:
        ours.send(None)  # the worker shuts down during the first search
        return search(retriever, question)

    monkeypatch.setattr(retrieval_process, "_search", stopped_while_searching)
    reply_key = queue.reply_key("a-worker")
    try:
        for number, question in enumerate(QUESTIONS, start=1):
            queue.put(reply_key, number, question)
        retrieval_process._take_until_told(theirs, mediation_retriever, queue)  # returns once stopped
        answers = [queue.answer_for(reply_key) for _ in range(2)]
        assert [(answer[0], answer[1]) for answer in answers if answer is not None] == [(1, True), (2, True)]
        assert queue.take() == (queue.reply_key("a-worker"), 3, QUESTIONS[2])  # left for another child
    finally:
        queue.close()
