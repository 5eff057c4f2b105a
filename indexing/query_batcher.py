"""Questions asked at the same moment, embedded together in one call of the encoder.

The encoder is the costly step of a search, and a batch of 16 short questions costs little more than
one. A background thread takes whatever has queued while the previous batch ran, so a lone question
waits for nothing and a burst shares batches by itself. With `workers` > 1, that many batches run at
once: on 2 cores two single-threaded encoder calls cost less CPU per question than one call on two
threads (ONNX Runtime's threads mostly wait on each other for inputs this small).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

Encode = Callable[[Sequence[str]], np.ndarray]


class QueryBatcher:
    """Thread-safe `encode(text)`; concurrent callers share calls of `encode_many` of ≤ `max_batch` texts."""

    def __init__(self, encode_many: Encode, *, max_batch: int = 16, workers: int = 1) -> None:
        """`encode_many` must be thread-safe when `workers` > 1 (an ONNX Runtime session is)."""
        if max_batch < 1 or workers < 1:
            raise ValueError(f"max_batch and workers must be at least 1, not {max_batch} and {workers}")
        self._encode_many = encode_many
        self._max_batch = max_batch
        self._workers = workers
        self._queue: queue.SimpleQueue[tuple[str, Future[np.ndarray]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.batches = 0  # calls of encode_many so far, for tests and benchmarks

    def encode(self, text: str) -> np.ndarray:
        """The vector of one text; blocks until its batch has run (errors of the batch are raised here)."""
        future: Future[np.ndarray] = Future()
        self._ensure_started()
        self._queue.put((text, future))
        return future.result()

    def _ensure_started(self) -> None:
        # Started on first use, not in __init__: build and eval never ask one question at a time.
        with self._lock:
            if not self._threads:
                self._threads = [
                    threading.Thread(target=self._run, name=f"pufa-query-encoder-{n}", daemon=True)
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

    def _run_batch(self, jobs: list[tuple[str, Future[np.ndarray]]]) -> None:
        with self._lock:
            self.batches += 1
        try:
            vectors = self._encode_many([text for text, _ in jobs])
            if len(vectors) != len(jobs):
                raise RuntimeError(f"the encoder returned {len(vectors)} vectors for {len(jobs)} texts")
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller instead
            for _, future in jobs:
                future.set_exception(exc)
            return
        for (_, future), vector in zip(jobs, vectors, strict=True):
            future.set_result(vector)
