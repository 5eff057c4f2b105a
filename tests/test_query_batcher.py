"""QueryBatcher: concurrent questions share encoder calls, each caller gets its own vector or error."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from indexing.query_batcher import QueryBatcher


def fake_vectors(texts: Sequence[str]) -> np.ndarray:
    """A vector that identifies its text: [length, first code point]."""
    return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)


class GatedEncoder:
    """Holds its first call until released, so the test controls what queues up meanwhile."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.first_started.set()
            self.release.wait(timeout=10)
        return fake_vectors(texts)


def wait_until_queued(batcher: QueryBatcher, count: int) -> None:
    """Until `count` callers wait in the batcher's queue (their threads submit asynchronously)."""
    for _ in range(500):
        if batcher._queue.qsize() >= count:  # noqa: SLF001 - test inspection
            return
        time.sleep(0.01)
    pytest.fail(f"only {batcher._queue.qsize()} of {count} questions queued")  # noqa: SLF001


def test_questions_arriving_together_share_batches_and_get_their_own_vectors() -> None:
    encoder = GatedEncoder()
    batcher = QueryBatcher(encoder, max_batch=4)
    texts = ["甲" * n for n in range(1, 11)]
    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        first = pool.submit(batcher.encode, texts[0])
        assert encoder.first_started.wait(5)
        rest = [pool.submit(batcher.encode, text) for text in texts[1:]]
        wait_until_queued(batcher, len(rest))
        encoder.release.set()
        results = [first.result(5)] + [f.result(5) for f in rest]
    for text, vector in zip(texts, results, strict=True):
        np.testing.assert_array_equal(vector, fake_vectors([text])[0])
    assert [len(call) for call in encoder.calls] == [1, 4, 4, 1]  # never more than max_batch
    assert batcher.batches == 4


def test_a_lone_question_is_encoded_at_once() -> None:
    calls: list[list[str]] = []
    batcher = QueryBatcher(lambda texts: calls.append(list(texts)) or fake_vectors(texts))
    np.testing.assert_array_equal(batcher.encode("借钱"), [2, ord("借")])
    np.testing.assert_array_equal(batcher.encode("宅基地"), [3, ord("宅")])
    assert calls == [["借钱"], ["宅基地"]]


def test_an_encoder_error_reaches_every_caller_of_that_batch_and_the_batcher_goes_on() -> None:
    failing = {"on": True}

    def encode(texts: Sequence[str]) -> np.ndarray:
        if failing["on"]:
            raise RuntimeError("model crashed")
        return fake_vectors(texts)

    batcher = QueryBatcher(encode)
    with pytest.raises(RuntimeError, match="model crashed"):
        batcher.encode("一")
    failing["on"] = False
    np.testing.assert_array_equal(batcher.encode("二"), [1, ord("二")])


def test_an_encoder_returning_the_wrong_number_of_vectors_is_an_error_not_a_hang() -> None:
    batcher = QueryBatcher(lambda texts: np.zeros((len(texts) + 1, 2), dtype=np.float32))
    with pytest.raises(RuntimeError, match="2 vectors for 1 texts"):
        batcher.encode("问")


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch and workers must be at least 1, not 0 and 1"):
        QueryBatcher(fake_vectors, max_batch=0)


def test_several_workers_run_batches_at_the_same_time() -> None:
    both_running = threading.Barrier(2, timeout=5)  # one worker alone would break it

    def encode(texts: Sequence[str]) -> np.ndarray:
        both_running.wait()
        return fake_vectors(texts)

    batcher = QueryBatcher(encode, max_batch=1, workers=2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(batcher.encode, ["甲", "乙乙"]))
    np.testing.assert_array_equal(np.stack(results), fake_vectors(["甲", "乙乙"]))
    assert batcher.batches == 2


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        QueryBatcher(fake_vectors, workers=0)
