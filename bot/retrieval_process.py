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
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from bot.consult import Draft, ThreadDrafts, describe_error, draft
from bot.settings import Settings
from bot.township import Township
from indexing.retrieval import Retriever

log = logging.getLogger(__name__)
WARM_QUESTION = "借钱不还怎么办"  # the first search loads jieba's dictionary: paid before villagers wait
PARENT_CHECK_S = 1.0

_loaded: tuple[Retriever, Township] | None = None  # the child's retriever, set by _load


def _load(settings: Settings, township: Township, worker: int) -> None:
    """The child's initializer: load the configured index as the worker (pid `worker`) does."""
    from threadpoolctl import threadpool_limits

    from bot.pipeline import open_retriever

    global _loaded
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the worker shuts us down
    threading.Thread(target=_exit_with, args=(worker,), name="pufa-exit-with-worker", daemon=True).start()
    threadpool_limits(limits=1, user_api="blas")  # one question's products are too small to share
    _loaded = (open_retriever(settings, answering_only=True), township)
    draft(*_loaded, WARM_QUESTION)
    gc.collect()
    gc.freeze()  # what loading made lives as long as the child: keep it out of full collections


def _exit_with(worker: int) -> None:
    """End the child when its worker is gone. A killed worker never shuts the pool down, and the child,
    which holds both ends of its task queue, would wait on it for ever (seen after a SIGKILL)."""
    while os.getppid() == worker:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _draft(question: str) -> Draft:
    if _loaded is None:  # only if the initializer did not run
        raise RuntimeError("the retrieval process has not loaded its index")
    return draft(*_loaded, question)


class ProcessDrafts:
    """Drafts in one child process; in `fallback` (this process's threads) while the child is starting
    or after it failed. Set `fallback` before the first `submit`: the worker starts the child first, so that
    both load at once."""

    def __init__(self, settings: Settings, township: Township) -> None:
        self._settings = settings
        self._township = township
        self.fallback: ThreadDrafts | None = None
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._ready = threading.Event()
        self._closed = False

    def start(self) -> Future[Draft]:
        """Spawn the child; the returned future is done when it has loaded the index and answered once."""
        with self._lock:
            return self._start()

    @property
    def in_child(self) -> bool:
        """Whether questions now go to the child (False while it starts, or after it failed to)."""
        return self._ready.is_set()

    def submit(self, question: str) -> Future[Draft]:
        pool = self._pool
        if pool is not None and self._ready.is_set():
            try:
                future = pool.submit(_draft, question)
            except (BrokenProcessPool, RuntimeError):  # broken, or shut down by a restart just now
                self._restart(pool)
            else:
                future.add_done_callback(lambda done: self._check(pool, done))
                return future
        if self.fallback is None:
            raise RuntimeError("no retrieval threads to search in while the retrieval process starts")
        return self.fallback.submit(question)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
        if self.fallback is not None:
            self.fallback.close()

    def _start(self) -> Future[Draft]:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_load,
            initargs=(self._settings, self._township, os.getpid()),
        )
        self._pool = pool
        self._ready.clear()
        warm = pool.submit(_draft, WARM_QUESTION)
        warm.add_done_callback(lambda done: self._started(pool, done))
        return warm

    def _started(self, pool: ProcessPoolExecutor, warm: Future[Draft]) -> None:
        error = warm.exception()
        if error is None:
            self._ready.set()
            log.info("retrieval process ready")
            return
        # A child that cannot load the index would fail the same way again: stay on threads.
        log.error("retrieval process did not start, questions are searched in-process: %s",
                  describe_error(error))  # fmt: skip
        pool.shutdown(wait=False, cancel_futures=True)

    def _check(self, pool: ProcessPoolExecutor, done: Future[Draft]) -> None:
        if not done.cancelled() and isinstance(done.exception(), BrokenProcessPool):
            self._restart(pool)

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._closed or self._pool is not broken:  # closed, or another thread already restarted it
                return
            log.error("the retrieval process died; searching in-process until a new one has started")
            broken.shutdown(wait=False, cancel_futures=True)
            self._start()
