"""Retrieval in a child process of each worker, so that searching does not share the worker's GIL.

Under load a worker is GIL-bound: its event loop, record writer and retrieval threads take turns at one
lock while the other core idles, and every NumPy call that lets go of the lock waits to get it back
behind them. A child process of its own (spawned, so it shares no locks or OpenMP state with the worker)
loads the same index and drafts each question: the question goes in, the hits, the composed answer and
the question's vector come back (a few KB, pickled). Curated answers stay in the worker, which reads
them from the database.

When the child dies (killed, out of memory) the worker answers in its own threads, as without a child,
while a new child starts; a child that cannot start at all leaves the worker on its threads.
"""

from __future__ import annotations

import gc
import itertools
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection

from bot.consult import Draft, ThreadDrafts, describe_error, draft
from bot.settings import Settings
from bot.township import Township
from indexing.retrieval import Retriever

log = logging.getLogger(__name__)
WARM_QUESTION = "借钱不还怎么办"  # the first search loads jieba's dictionary: paid before villagers wait
_READY = -1  # the id of the child's first message: loaded (a Draft of WARM_QUESTION) or why not


class RetrievalProcessDied(RuntimeError):
    """The child ended (killed, out of memory) before it sent this question's draft."""


def _serve(conn: Connection, settings: Settings, township: Township) -> None:
    """The child: load the index as the worker does, then draft each (id, question) until the pipe closes.

    The pipe closes when the worker ends, even by SIGKILL: the child holds only its own end of it.
    """
    from threadpoolctl import threadpool_limits

    from bot.pipeline import open_retriever

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the worker ends us
    threadpool_limits(limits=1, user_api="blas")  # one question's products are too small to share
    try:
        retriever = open_retriever(settings, answering_only=True)
        conn.send((_READY, True, draft(retriever, township, WARM_QUESTION)))
    except Exception as exc:  # noqa: BLE001 - reported to the worker, which stays on its threads
        conn.send((_READY, False, describe_error(exc)))
        return
    gc.collect()
    gc.freeze()  # what loading made lives as long as the child: keep it out of full collections
    _answer_until_closed(conn, retriever, township)


def _answer_until_closed(conn: Connection, retriever: Retriever, township: Township) -> None:
    while True:
        try:
            number, question = conn.recv()
        except (EOFError, OSError):  # the worker is gone
            return
        try:
            reply: tuple[int, bool, object] = (number, True, draft(retriever, township, question))
        except Exception as exc:  # noqa: BLE001 - the worker logs it and sends the fallback
            reply = (number, False, describe_error(exc))  # not the exception: its message may quote the question
        conn.send(reply)


class _Child:
    """One spawned child and its pipe: questions are written by the asking thread, drafts read by one
    reader thread. (ProcessPoolExecutor took three thread hand-offs more a question in the worker: its
    manager thread and its queue's feeder thread, each waiting for the worker's busy GIL.)"""

    def __init__(self, settings: Settings, township: Township, on_exit: Callable[[_Child], None]) -> None:
        context = multiprocessing.get_context("spawn")  # shares no locks or OpenMP state with the worker
        self._conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, settings, township),
                                       name="pufa-retrieval", daemon=True)  # fmt: skip
        self.process.start()
        theirs.close()
        self.ready: Future[Draft] = Future()
        self._on_exit = on_exit
        self._numbers = itertools.count()
        self._waiting: dict[int, Future[Draft]] = {_READY: self.ready}
        self._lock = threading.Lock()
        self._ended = False
        threading.Thread(target=self._read, name="pufa-retrieval-reader", daemon=True).start()

    def submit(self, question: str) -> Future[Draft]:
        future: Future[Draft] = Future()
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
        """Close the pipe: the child ends after the question it is drafting."""
        with self._lock:
            self._ended = True
            self._conn.close()

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
            if ok:
                future.set_result(value)
            else:
                future.set_exception(RuntimeError(f"in the retrieval process: {value}"))
        self._end()

    def _end(self) -> None:
        with self._lock:
            stopped, self._ended = self._ended, True
            waiting, self._waiting = self._waiting, {}
        self.process.join(timeout=5)  # reap it
        for future in waiting.values():
            if future.set_running_or_notify_cancel():
                future.set_exception(RetrievalProcessDied(f"exit code {self.process.exitcode}"))
        if not stopped:
            self._on_exit(self)


class ProcessDrafts:
    """Drafts in one child process; in `fallback` (this process's threads) while the child is starting
    or after it failed. Set `fallback` before the first `submit`: the worker starts the child first, so that
    both load at once."""

    def __init__(self, settings: Settings, township: Township) -> None:
        self._settings = settings
        self._township = township
        self.fallback: ThreadDrafts | None = None
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._closed = False

    def start(self) -> Future[Draft]:
        """Spawn the child; the returned future is done when it has loaded the index and answered once."""
        with self._lock:
            return self._start()

    @property
    def in_child(self) -> bool:
        """Whether questions now go to the child (False while it starts, or after it failed to)."""
        child = self._child
        return child is not None and child.ready.done() and child.ready.exception() is None

    def submit(self, question: str) -> Future[Draft]:
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

    def _start(self) -> Future[Draft]:
        child = _Child(self._settings, self._township, on_exit=self._restart)
        self._child = child
        child.ready.add_done_callback(self._started)
        return child.ready

    def _started(self, ready: Future[Draft]) -> None:
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
