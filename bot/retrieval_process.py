"""Retrieval in a child process of each worker, so that searching does not share the worker's GIL.

Under load a worker is GIL-bound: its event loop, record writer and retrieval threads take turns at one
lock while the other core idles, and every NumPy call that lets go of the lock waits to get it back
behind them. A child process of its own (spawned, so it shares no locks or OpenMP state with the worker)
loads the same index and searches for each question: the question goes in; the hits, the question's
vector and its on-topic probability come back (a few KB, pickled). The worker composes the answer, or
takes a curated one, which it reads from the database.

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
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from bot.consult import Retrieval, RetrievalThreads, describe_error, retrieve
from bot.settings import Settings
from indexing.retrieval import Hit, Retriever
from knowledge.corpus import Corpus

log = logging.getLogger(__name__)
WARM_QUESTION = "借钱不还怎么办"  # the first search loads jieba's dictionary: paid before villagers wait
_READY = -1  # the id of the child's first message: loaded, or why not
# A hit as sent back: (law, number, score, retrievers, chunk_id, dense_score, bm25_score, dense_margin).
# The worker has the articles: pickling their text and the dataclasses took ten times as long (0.3 ms).
PackedHit = tuple[str, int, float, tuple[str, ...], str, float | None, float | None, float | None]
Packed = tuple[tuple[PackedHit, ...], np.ndarray, float]


class RetrievalProcessDied(RuntimeError):
    """The child ended (killed, out of memory) before it sent what it found for this question."""


def _serve(conn: Connection, settings: Settings) -> None:
    """The child: load the index as the worker does, then search each (id, question) until the pipe closes.

    It ends on None, or when the pipe closes because the worker ended, even by SIGKILL: the child holds
    only its own end of the pipe.
    """
    from bot.pipeline import open_retriever
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
    _search_until_told(conn, retriever)


def _search_until_told(conn: Connection, retriever: Retriever) -> None:
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the worker is gone
            return
        if message is None:  # the worker shuts down
            return
        number, question = message
        try:
            reply: tuple[int, bool, object] = (number, True, _pack(retrieve(retriever, question)))
        except Exception as exc:  # noqa: BLE001 - the worker logs it and sends the fallback
            # Not the exception itself: its message may quote the question.
            reply = (number, False, describe_error(exc))
        conn.send(reply)


def _pack(found: Retrieval) -> Packed:
    hits = tuple((h.article.law, h.article.number, h.score, h.retrievers, h.chunk_id, h.dense_score,
                  h.bm25_score, h.dense_margin) for h in found.hits)  # fmt: skip
    return hits, found.vector, found.legal


def _unpack(packed: Packed, corpus: Corpus) -> Retrieval:
    hits, vector, legal = packed
    return Retrieval(hits=tuple(_hit(packed_hit, corpus) for packed_hit in hits), vector=vector, legal=legal)


def _hit(packed: PackedHit, corpus: Corpus) -> Hit:
    law, number, score, retrievers, chunk_id, dense_score, bm25_score, dense_margin = packed
    article = corpus.get(law, number)
    if article is None:
        raise LookupError("the retrieval process found an article the worker does not have")
    return Hit(article=article, score=score, retrievers=retrievers, chunk_id=chunk_id,
               dense_score=dense_score, bm25_score=bm25_score, dense_margin=dense_margin)  # fmt: skip


class _Child:
    """One spawned child and its pipe: questions are written by the asking thread, retrievals read by one
    reader thread. (ProcessPoolExecutor took three thread hand-offs more a question in the worker: its
    manager thread and its queue's feeder thread, each waiting for the worker's busy GIL.)"""

    def __init__(self, settings: Settings, on_exit: Callable[[_Child], None],
                 corpus: Callable[[], Corpus]) -> None:  # fmt: skip
        """`corpus`: the worker's statutes, for the articles of the hits."""
        context = multiprocessing.get_context("spawn")  # shares no locks or OpenMP state with the worker
        self._conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, settings),
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
        threading.Thread(target=self._read, name="pufa-retrieval-reader", daemon=True).start()

    def submit(self, question: str) -> Future[Retrieval]:
        future: Future[Retrieval] = Future()
        with self._lock:
            if self._ended:
                raise RetrievalProcessDied("the retrieval process has ended")
            number = next(self._numbers)
            self._waiting[number] = future
            try:
                self._conn.send((number, question))
            except OSError as exc:  # it died; the reader has not seen it yet
                del self._waiting[number]
                raise RetrievalProcessDied("the retrieval process has ended") from exc
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
            # Without the lock: an asker holding it may be blocked writing to a child blocked writing to us.
            future = self._waiting.pop(number, None)
            if future is None or not future.set_running_or_notify_cancel():  # given up at its deadline
                continue
            if not ok:
                future.set_exception(RuntimeError(f"in the retrieval process: {value}"))
                continue
            try:
                future.set_result(value if number == _READY else _unpack(value, self._corpus()))
            except Exception as exc:  # noqa: BLE001 - the asker logs it and sends the fallback
                future.set_exception(exc)
        self._end()

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
    """Searches in one child process; in `fallback` (this process's threads) while the child is starting
    or after it failed. Set `fallback` before the first `submit`: the worker starts the child first, so that
    both load at once."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.fallback: RetrievalThreads | None = None
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._closed = False

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
            except RetrievalProcessDied:  # it ended a moment ago: its reader restarts it
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

    def _start(self) -> Future[None]:
        child = _Child(self._settings, on_exit=self._restart, corpus=self._corpus)
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
