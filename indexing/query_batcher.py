"""Questions asked at the same moment, embedded together in one call of the encoder.

The encoder is the costly step of a search, and a batch of 16 short questions costs little more than
one; `indexing.batching` does the batching. With `workers` > 1, that many batches run at once: on
2 cores two single-threaded encoder calls cost less CPU per question than one call on two threads
(ONNX Runtime's threads mostly wait on each other for inputs this small).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from indexing.batching import Batcher

Encode = Callable[[Sequence[str]], np.ndarray]


class QueryBatcher(Batcher[str, np.ndarray]):
    """Thread-safe `encode(text)`; concurrent callers share calls of `encode_many` of ≤ `max_batch` texts."""

    results_name, items_name = "vectors", "texts"

    def __init__(self, encode_many: Encode, *, max_batch: int = 16, workers: int = 1) -> None:
        """`encode_many` must be thread-safe when `workers` > 1 (an ONNX Runtime session is)."""
        super().__init__(encode_many, max_batch=max_batch, workers=workers, name="pufa-query-encoder")

    def encode(self, text: str) -> np.ndarray:
        """The vector of one text; blocks until its batch has run (errors of the batch are raised here)."""
        return self.submit(text)
