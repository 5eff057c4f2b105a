"""Vector index: exact FAISS inner-product search over L2-normalised chunk embeddings."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
from threadpoolctl import threadpool_limits


def one_thread_per_search() -> None:
    """Searches in this process use one thread each, for good: a server's searches run side by side and
    every core is busy already. One question's products are too small to share between threads: threaded
    BLAS only spun (1.7 → 0.8 cores per 100 requests/s), and FAISS's half-precision scan of the question
    bank, on two OpenMP threads, took twice the CPU for the same answer."""
    threadpool_limits(limits=1, user_api="blas")
    faiss.omp_set_num_threads(1)  # FAISS's own OpenMP runtime; torch's (index builds) is left alone


class VectorIndex:
    """Rows are aligned with the chunk list the vectors were computed from.

    `penalties` (one per row, default 0) are subtracted from the cosine when ranking: the hubness
    correction of indexing/hubness.py. They ride along as an extra dimension — row [v, p] against
    query [q, -1] — so FAISS ranks by cos(q, v) - p without a second pass.
    """

    def __init__(self, vectors: np.ndarray, penalties: np.ndarray | None = None) -> None:
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array, got shape {vectors.shape}")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if penalties is None:
            penalties = np.zeros(len(self.vectors), dtype=np.float32)
        if penalties.shape != (len(self.vectors),):
            raise ValueError(f"{penalties.shape[0]} penalties for {len(self.vectors)} vectors")
        self.penalties = penalties.astype(np.float32)
        # Inner product equals cosine similarity on normalised vectors; a few thousand
        # statute chunks need no approximate index.
        self._index = faiss.IndexFlatIP(self.vectors.shape[1] + 1)
        self._index.add(np.hstack([self.vectors, self.penalties[:, None]]))

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(cos - penalty, rows) of the k best rows, best first; fewer when the index is smaller."""
        k = min(k, len(self))
        if k <= 0:
            return np.empty(0, dtype=np.float32), np.empty(0, dtype=np.int64)
        q = np.ascontiguousarray(np.append(query.astype(np.float32), -1.0).reshape(1, -1))
        scores, rows = self._index.search(q, k)
        return scores[0], rows[0]

    def cosines(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(len(self),) cosine of the query with each of `rows`, NaN elsewhere: for the candidates' and
        the hits' chunks.

        One product for all of them: scoring each candidate's few rows apart took ~40 small products a
        question, and each let go of the GIL and waited to take it back behind the other searches. Only
        those rows: reading every row again after FAISS had (6 MB) took 9 % of a search under load.
        """
        cosines = np.full(len(self), np.nan, dtype=np.float32)
        cosines[rows] = self.vectors[rows] @ query.astype(np.float32)
        return cosines

    def save(self, vectors_path: Path, penalties_path: Path) -> None:
        np.save(vectors_path, self.vectors, allow_pickle=False)
        np.save(penalties_path, self.penalties, allow_pickle=False)

    @classmethod
    def load(cls, vectors_path: Path, penalties_path: Path) -> VectorIndex:
        return cls(np.load(vectors_path, allow_pickle=False), np.load(penalties_path, allow_pickle=False))
