"""Fit the re-ranker's weights (indexing/data/reranker.json) on the dev set's tuning split.

For each tuning question, hybrid search runs without re-ranking; the top `indexing.rerank.DEPTH`
fused articles (direct citations aside) give one row of features each, labelled by whether the article
is gold. A logistic regression on standardised features is fitted to those rows. The held-out split
is never read. Prints 5-fold cross-validated recall@5 / MRR@10 on the tuning split, fused order against
re-ranked, then writes the weights.

Run from the repository root, with the index built (`pufa build`):
    .venv/bin/python scripts/train_reranker.py [--data-dir data] [--out indexing/data/reranker.json]
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

import random
from pathlib import Path

import common
import numpy as np
from sklearn.linear_model import LogisticRegression

from bot.search.pipeline import open_corpus, open_embedder
from bot.settings import Settings
from indexing.build import load_retriever
from indexing.evaluation import Question, mean_metrics, question_metrics
from indexing.rerank import DEFAULT_WEIGHTS, DEPTH, FEATURES, LinearReranker

C = 0.1  # inverse regularisation: 0.01, 0.1 and 1 cross-validate within 0.006 of each other
FOLDS = 5


class _Capture:
    """A stand-in re-ranker that keeps the fused order and records the features it was shown."""

    def __init__(self) -> None:
        self.features = np.empty((0, len(FEATURES)))

    def scores(self, features: np.ndarray) -> np.ndarray:
        self.features = features
        return -np.arange(len(features), dtype=np.float64)


Example = tuple[Question, list[str], np.ndarray]  # question, candidate keys in fused order, features


def examples(settings: Settings, questions: list[Question]) -> list[Example]:
    capture = _Capture()
    corpus, embedder = open_corpus(settings), open_embedder(settings)
    retriever = load_retriever(settings.index_dir, corpus, embedder, reranker=capture)
    out = []
    for question in questions:
        capture.features = np.empty((0, len(FEATURES)))
        hits = retriever.search(question.query, k=DEPTH)
        keys = [hit.article.key for hit in hits if "direct" not in hit.retrievers][: len(capture.features)]
        out.append((question, keys, capture.features))
    return out


def fit(train: list[Example]) -> LinearReranker:
    features = np.vstack([f for _, _, f in train])
    labels = np.array([key in q.gold for q, keys, _ in train for key in keys])
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-9
    model = LogisticRegression(C=C, max_iter=5000).fit((features - mean) / scale, labels)
    return LinearReranker(mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]))


def metrics(test: list[Example], reranker: LinearReranker | None) -> dict[str, float]:
    per_question = []
    for question, keys, features in test:
        fused_order = np.arange(len(keys))
        order = fused_order if reranker is None else np.argsort(-reranker.scores(features), kind="stable")
        per_question.append(question_metrics([keys[i] for i in order], question.gold))
    return mean_metrics(per_question)


def cross_validate(data: list[Example]) -> None:
    shuffled = random.Random(0).sample(data, len(data))
    folds = [shuffled[i::FOLDS] for i in range(FOLDS)]
    fused, reranked = [], []
    for i, test in enumerate(folds):
        train = [example for j, fold in enumerate(folds) if j != i for example in fold]
        fused.append(metrics(test, None))
        reranked.append(metrics(test, fit(train)))
    for name, runs in (("fused", fused), ("re-ranked", reranked)):
        print(f"{FOLDS}-fold on tune, {name:9s}: recall@5 {np.mean([m['recall@5'] for m in runs]):.3f}  "
              f"MRR@10 {np.mean([m['mrr@10'] for m in runs]):.3f}")  # fmt: skip


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args()
    settings = common.settings(args)
    tune = common.tune_questions()
    data = examples(settings, tune)
    rows = sum(len(keys) for _, keys, _ in data)
    print(f"{len(tune)} 'tune' questions from {common.SOURCE}, {rows} candidate rows")
    cross_validate(data)
    fit(data).save(args.out, trained_on=f"{common.SOURCE} split=tune ({len(tune)} questions)", C=C,
                   script="scripts/train_reranker.py")  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
