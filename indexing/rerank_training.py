"""Fitting the re-ranker: candidate features captured from hybrid search, and an L2 logistic regression.

Shared by `scripts/train_reranker.py` (the weights in indexing/data/reranker.json) and
`pufa eval --cv` (the same fit on each fold's training questions), so that the cross-validated figure
measures the recipe that made the shipped weights. Plain numpy (Newton's method), as `pufa` itself
does not depend on scikit-learn; it minimises scikit-learn's objective for LogisticRegression(C).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from indexing.evaluation import Question
from indexing.rerank import DEPTH, FEATURES, LinearReranker

if TYPE_CHECKING:
    from indexing.retrieval import Retriever

# Inverse regularisation. STARD 5-fold CV / dev held-out recall@5: 0.1 0.631 / 0.748, 1 0.634 / 0.750.
C = 1.0
NEWTON_STEPS = 50


class Example(NamedTuple):
    question: Question
    keys: list[str]  # the re-ranked candidates, in fused order (direct citations aside)
    features: np.ndarray  # (len(keys), len(FEATURES))


class FeatureRecorder:
    """A stand-in re-ranker that keeps the fused order and records the features it was shown."""

    def __init__(self) -> None:
        self.features = np.empty((0, len(FEATURES)))

    def scores(self, features: np.ndarray) -> np.ndarray:
        self.features = features
        return -np.arange(len(features), dtype=np.float64)


def capture_examples(retriever: Retriever, questions: Sequence[Question]) -> list[Example]:
    """Each question's re-ranked candidates and their features, as hybrid search sees them."""
    capture, kept = FeatureRecorder(), retriever.reranker
    retriever.reranker = capture
    try:
        out = []
        for question in questions:
            capture.features = np.empty((0, len(FEATURES)))
            # The message whole: the recorder sees one search. k: the direct citations too.
            hits = retriever.search(question.query, k=2 * DEPTH, split_parts=False)
            keys = [hit.article.key for hit in hits if "direct" not in hit.retrievers][: len(capture.features)]
            out.append(Example(question, keys, capture.features[: len(keys)]))
        return out
    finally:
        retriever.reranker = kept


def fit_reranker(examples: Sequence[Example], c: float = C,
                 weights: Sequence[float] | None = None) -> LinearReranker:  # fmt: skip
    """Logistic regression of "the candidate is gold" on standardised features; bias unpenalised.

    `weights`: one per example, for its candidates' rows (default 1).
    """
    if not examples:
        raise ValueError("no questions to fit the re-ranker on")
    features = np.vstack([e.features for e in examples])
    labels = np.array([key in e.question.gold for e in examples for key in e.keys], dtype=np.float64)
    w = np.concatenate([np.full(len(e.keys), 1.0 if weights is None else weights[i])
                        for i, e in enumerate(examples)])  # fmt: skip
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-9
    x = np.hstack([np.nan_to_num((features - mean) / scale, nan=0.0), np.ones((len(features), 1))])
    penalty = np.append(np.full(len(FEATURES), 1.0 / c), 1e-9)  # 1e-9 keeps the Hessian invertible
    theta = np.zeros(x.shape[1])
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(x @ theta)))
        gradient = x.T @ (w * (p - labels)) + penalty * theta
        hessian = (x.T * (w * p * (1.0 - p))) @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return LinearReranker(mean, scale, theta[:-1].copy(), float(theta[-1]))


def reranked_keys(example: Example, reranker: LinearReranker | None) -> list[str]:
    """The example's candidates in the re-ranker's order (None: fused order)."""
    if reranker is None or not example.keys:
        return list(example.keys)
    order = np.argsort(-reranker.scores(example.features), kind="stable")
    return [example.keys[i] for i in order]
