"""Items from concurrent callers, run together in calls of one function that takes a list of them.

A background thread takes whatever has queued while its previous call ran, so a lone item waits for
nothing and a burst shares calls by itself; with `workers` > 1, that many calls run at once. Each
caller blocks until its own result is ready, and an error of the call is raised to every caller in it.
Serves question encoding (`indexing.query_batcher`) and the storing of records (`bot.records.group_commit`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Results(Protocol[R_co]):
    """What a batch call returns: one result per item, in order (a list, or a NumPy array of rows)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[R_co]: ...


class Batcher(Generic[T, R]):
    """Thread-safe `submit(item)`; concurrent callers share calls of `run_many` of ≤ `max_batch` items."""

    # How the error for a call that returns the wrong number of results names them.
    results_name, items_name = "results", "items"

    def __init__(self, run_many: Callable[[list[T]], Results[R]], *, max_batch: int = 16, workers: int = 1,
                 name: str = "pufa-batcher") -> None:  # fmt: skip
        """`run_many` must be thread-safe when `workers` > 1."""
        if max_batch < 1 or workers < 1:
            raise ValueError(f"max_batch and workers must be at least 1, not {max_batch} and {workers}")
        self._run_many = run_many
        self._max_batch = max_batch
        self._workers = workers
        self._name = name
        self._queue: queue.SimpleQueue[tuple[T, Future[R]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.batches = 0  # calls of run_many so far, for tests and benchmarks

    def submit(self, item: T) -> R:
        """The result for one item; blocks until its batch has run (errors of the batch are raised here)."""
        future: Future[R] = Future()
        self._ensure_started()
        self._queue.put((item, future))
        return future.result()

    def _ensure_started(self) -> None:
        # Started on first use, not in __init__: objects that never get a concurrent caller need no thread.
        with self._lock:
            if not self._threads:
                self._threads = [
                    threading.Thread(target=self._run, name=f"{self._name}-{n}", daemon=True)
                    for n in range(self._workers)
                ]
                for thread in self._threads:
                    thread.start()

    def _run(self) -> None:
        while True:
            jobs = [self._queue.get()]
            while len(jobs) < self._max_batch:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._run_batch(jobs)

    def _run_batch(self, jobs: list[tuple[T, Future[R]]]) -> None:
        with self._lock:
            self.batches += 1
        try:
            results = self._run_many([item for item, _ in jobs])
            if len(results) != len(jobs):
                raise RuntimeError(f"{self._name} returned {len(results)} {self.results_name} "
                                   f"for {len(jobs)} {self.items_name}")  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller instead
            for _, future in jobs:
                future.set_exception(exc)
            return
        for (_, future), result in zip(jobs, results, strict=True):
            future.set_result(result)
