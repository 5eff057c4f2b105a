"""Retrieval in a child process of each worker, so that searching does not share the worker's GIL.

Under load a worker is GIL-bound: its event loop, record writer and retrieval threads take turns at one
lock while the other core idles, and every NumPy call that lets go of the lock waits to get it back
behind them. A child process of its own (spawned, so it shares no locks or OpenMP state with the worker)
loads the same index and searches for each question: the question goes in; the hits, the question's
vector and its on-topic probability come back (a few KB, pickled). The worker composes the answer, or
takes a curated one, which it reads from the database.

With PUFA_REDIS_URL the questions of all workers go to one queue there instead (bot/search/shared_queue.py),
and each child takes the oldest, whichever worker asked it; the pipe then only says that the child is
ready, and that either side has ended.

When the child dies (killed, out of memory) the worker answers in its own threads, as without a child,
while a new child starts; a child that cannot start at all leaves the worker on its threads.
"""

from __future__ import annotations

import gc
import itertools
import logging
import multiprocessing
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import Any

import redis

from bot.errors import describe_error
from bot.search.retrieval import Retrieval, RetrievalThreads, retrieve
from bot.search.shared_queue import POLL_S, SharedQueue
from bot.search.wire import Packed, pack, unpack
from bot.settings import Settings
from indexing.retrieval import Retriever
from knowledge.corpus import Corpus

log = logging.getLogger(__name__)
WARM_QUESTION = "借钱不还怎么办"  # the first search loads jieba's dictionary: paid before villagers wait
_READY = -1  # the id of the child's first message: loaded, or why not


class RetrievalUnavailable(RuntimeError):
    """No child can take this question: the worker searches it in its own threads."""


class RetrievalProcessDied(RetrievalUnavailable):
    """The child ended (killed, out of memory) before it sent what it found for this question."""


def _serve(conn: Connection, settings: Settings, queue_key: str | None) -> None:
    """The child: load the index as the worker does, then search each (id, question) from the pipe, or
    from the shared queue named `queue_key`, until the pipe closes.

    It ends on None, or when the pipe closes because the worker ended, even by SIGKILL: the child holds
    only its own end of the pipe.
    """
    from bot.search.pipeline import open_retriever
    from indexing.vector_index import one_thread_per_search

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the worker ends us
    one_thread_per_search()
    try:
        retriever = open_retriever(settings, answering_only=True)
        retrieve(retriever, WARM_QUESTION)
        conn.send((_READY, True, None))
    except Exception as exc:  # noqa: BLE001 - reported to the worker, which stays on its threads
        conn.send((_READY, False, describe_error(exc)))
        return
    gc.collect()
    gc.freeze()  # what loading made lives as long as the child: keep it out of full collections
    queue = SharedQueue.for_settings(settings, queue_key) if queue_key else None
    if queue is None:
        _search_until_told(conn, retriever)
    else:
        _take_until_told(conn, retriever, queue)


def _search_until_told(conn: Connection, retriever: Retriever) -> None:
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the worker is gone
            return
        if message is None:  # the worker shuts down
            return
        number, question = message
        conn.send((number, *_search(retriever, question)))


def _take_until_told(conn: Connection, retriever: Retriever, queue: SharedQueue) -> None:
    """The oldest question of the shared queue, answered on its worker's answer list, until the pipe says
    to stop (None) or closes (the worker is gone). A question taken with an answer is answered first."""
    reachable, held, stopping = True, None, False
    while True:
        stopping = stopping or _told_to_stop(conn)  # the pipe's None is read once
        if stopping and held is None:
            return
        try:
            held = held or queue.take()
            if held is not None:
                held = queue.answer(held, *_search(retriever, held.text), take_next=not stopping)
            reachable = True
        except redis.RedisError as exc:  # the workers search in their threads meanwhile
            held = None  # its worker sends the fallback at its deadline
            if reachable:
                log.error("the shared retrieval queue is unreachable: %s", describe_error(exc))
            reachable = False
            time.sleep(POLL_S)


def _told_to_stop(conn: Connection) -> bool:
    try:
        return conn.poll() and conn.recv() is None
    except (EOFError, OSError):  # the worker is gone
        return True


def _search(retriever: Retriever, question: str) -> tuple[bool, Packed | str]:
    try:
        return True, pack(retrieve(retriever, question))
    except Exception as exc:  # noqa: BLE001 - the worker logs it and sends the fallback
        return False, describe_error(exc)  # not the exception itself: its message may quote the question


class _Child:
    """One spawned child and its pipe: questions are written by the asking thread (to the pipe or the shared
    queue), retrievals read by one reader thread. (ProcessPoolExecutor took three thread hand-offs more a
    question in the worker: its manager thread and its queue's feeder thread, each waiting for the worker's
    busy GIL.)"""

    def __init__(self, settings: Settings, on_exit: Callable[[_Child], None],
                 corpus: Callable[[], Corpus], queue: SharedQueue | None) -> None:  # fmt: skip
        """`corpus`: the worker's statutes, for the articles of the hits."""
        context = multiprocessing.get_context("spawn")  # shares no locks or OpenMP state with the worker
        self._conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, settings, queue and queue.key),
                                       name="pufa-retrieval", daemon=True)  # fmt: skip
        self.process.start()
        theirs.close()
        self.ready: Future[None] = Future()
        self._on_exit = on_exit
        self._corpus = corpus
        self._numbers = itertools.count()
        self._waiting: dict[int, Future[Any]] = {_READY: self.ready}
        self._lock = threading.Lock()
        self._ended = False
        self._queue = queue
        self._reply_key = queue.reply_key(uuid.uuid4().hex) if queue is not None else ""
        threading.Thread(target=self._read, name="pufa-retrieval-reader", daemon=True).start()
        if queue is not None:
            threading.Thread(target=self._read_answers, name="pufa-retrieval-answers", daemon=True).start()

    def submit(self, question: str) -> Future[Retrieval]:
        future: Future[Retrieval] = Future()
        queue = self._queue
        with self._lock:
            if self._ended:
                raise RetrievalProcessDied("the retrieval process has ended")
            number = next(self._numbers)
            self._waiting[number] = future
            if queue is None:
                try:
                    self._conn.send((number, question))
                except OSError as exc:  # it died; the reader has not seen it yet
                    del self._waiting[number]
                    raise RetrievalProcessDied("the retrieval process has ended") from exc
                return future
        try:
            queue.put(self._reply_key, number, question)
        except redis.RedisError as exc:
            self._waiting.pop(number, None)
            raise RetrievalUnavailable(f"the retrieval queue is unreachable: {describe_error(exc)}") from exc
        return future

    def stop(self) -> None:
        """Tell the child to end after the questions sent before. (Closing our end would not do: the
        reader thread's pending read keeps the socket open, and the child would never see it close.)"""
        with self._lock:
            self._ended = True
            with suppress(OSError):  # it has ended already
                self._conn.send(None)

    def _read(self) -> None:
        while True:
            try:
                number, ok, value = self._conn.recv()
            except (EOFError, OSError):
                break
            self._deliver(number, ok, value)
        self._end()

    def _read_answers(self) -> None:
        """The answers on this worker's list of the shared queue, whichever child found them."""
        assert self._queue is not None
        while not self._ended:
            try:
                answer = self._queue.answer_for(self._reply_key)
            except redis.RedisError:  # the askers fall back at their deadlines; `submit` says why
                time.sleep(POLL_S)
                continue
            if answer is not None:
                self._deliver(*answer)

    def _deliver(self, number: int, ok: bool, value: Any) -> None:
        # Without the lock: an asker holding it may be blocked writing to a child blocked writing to us.
        future = self._waiting.pop(number, None)
        if future is None or not future.set_running_or_notify_cancel():  # given up at its deadline
            return
        if not ok:
            future.set_exception(RuntimeError(f"in the retrieval process: {value}"))
            return
        try:
            future.set_result(value if number == _READY else unpack(value, self._corpus()))
        except Exception as exc:  # noqa: BLE001 - the asker logs it and sends the fallback
            future.set_exception(exc)

    def _end(self) -> None:
        with self._lock:
            stopped, self._ended = self._ended, True
            waiting, self._waiting = self._waiting, {}
        self._conn.close()
        self.process.join(timeout=5)  # reap it
        for future in waiting.values():
            if future.set_running_or_notify_cancel():
                future.set_exception(RetrievalProcessDied(f"exit code {self.process.exitcode}"))
        if not stopped:
            self._on_exit(self)


class RetrievalProcess:
    """Searches in one child process (or, with Redis, in whichever child of any worker is free); in
    `fallback` (this process's threads) while the child is starting or after it failed, or Redis is down.
    Set `fallback` before the first `submit`: the worker starts the child first, so that both load at
    once."""

    def __init__(self, settings: Settings, *, shared: bool = True) -> None:
        """`shared`: put the questions on the shared queue when there is Redis (no use for a single worker:
        a queue of its own costs less)."""
        self._settings = settings
        self.fallback: RetrievalThreads | None = None
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._closed = False
        self._queue = SharedQueue.for_settings(settings) if shared else None  # None: through the child's pipe

    def start(self) -> Future[None]:
        """Spawn the child; the returned future is done when it has loaded the index and answered once."""
        with self._lock:
            return self._start()

    @property
    def in_child(self) -> bool:
        """Whether questions now go to the child (False while it starts, or after it failed to)."""
        child = self._child
        return child is not None and child.ready.done() and child.ready.exception() is None

    def submit(self, question: str) -> Future[Retrieval]:
        child = self._child
        if child is not None and self.in_child:
            try:
                return child.submit(question)
            except RetrievalUnavailable:  # it ended a moment ago (its reader restarts it), or Redis is down
                pass
        if self.fallback is None:
            raise RuntimeError("no retrieval threads to search in while the retrieval process starts")
        return self.fallback.submit(question)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._child is not None:
                self._child.stop()
        if self.fallback is not None:
            self.fallback.close()
        if self._queue is not None:
            self._queue.close()

    def _start(self) -> Future[None]:
        child = _Child(self._settings, on_exit=self._restart, corpus=self._corpus, queue=self._queue)
        self._child = child
        child.ready.add_done_callback(self._started)
        return child.ready

    def _corpus(self) -> Corpus:
        if self.fallback is None:
            raise RuntimeError("set the retrieval threads before the first question")
        return self.fallback.retriever.corpus

    def _started(self, ready: Future[None]) -> None:
        error = ready.exception()
        if error is None:
            log.info("retrieval process ready")
        else:  # a child that cannot load the index would fail the same way again: stay on threads
            log.error("retrieval process did not start, questions are searched in-process: %s", error)

    def _restart(self, ended: _Child) -> None:
        with self._lock:
            if self._closed or self._child is not ended or not ended.ready.done() or ended.ready.exception():
                return  # closed, already replaced, or never started (`_started` said why)
            log.error("the retrieval process died; searching in-process until a new one has started")
            self._start()
