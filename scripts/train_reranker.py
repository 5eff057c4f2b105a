"""Fit the re-ranker's weights (indexing/data/reranker.json) on written and real questions.

For each question of the dev set's tuning split and of STARD's 557 three-law questions
(tests/data/stard/train.jsonl), hybrid search runs without re-ranking; the top `indexing.rerank.DEPTH`
fused articles (direct citations aside) give one row of features each, labelled by whether the article
is gold. An L2 logistic regression on standardised features is fitted to those rows
(`indexing.rerank_training`). The dev set's held-out split is never read. Prints 5-fold
cross-validated recall@5 / MRR@10 on the real questions (each fold ranked by weights fitted on the
tuning split and the other folds, as `pufa eval --cv 5`), then writes the weights fitted on all.

Run from the repository root, with the index built (`pufa build`):
    .venv/bin/python scripts/train_reranker.py [--data-dir data] [--out indexing/data/reranker.json]
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

from pathlib import Path

import common
import numpy as np

from bot.search.pipeline import open_corpus, open_embedder
from indexing.build import load_retriever
from indexing.cross_validation import SEED, deal_folds
from indexing.evaluation import mean_metrics, question_metrics, read_questions
from indexing.rerank import DEFAULT_WEIGHTS, LinearReranker
from indexing.rerank_training import C, Example, FeatureRecorder, capture_examples, fit_reranker, reranked_keys

REAL = Path("tests/data/stard/train.jsonl")
FOLDS = 5


def metrics(test: list[Example], reranker: LinearReranker | None) -> dict[str, float]:
    return mean_metrics(question_metrics(reranked_keys(e, reranker), e.question.gold) for e in test)


def cross_validate(tune: list[Example], real: list[Example]) -> None:
    fused, reranked = [], []
    for held in deal_folds(len(real), FOLDS, SEED):
        held_set = set(held)
        test = [real[i] for i in held]
        fused.append(metrics(test, None))
        reranked.append(metrics(test, fit_reranker(tune + [e for i, e in enumerate(real) if i not in held_set])))
    for name, runs in (("fused", fused), ("re-ranked", reranked)):
        print(f"{FOLDS}-fold on STARD, {name:9s}: recall@5 {np.mean([m['recall@5'] for m in runs]):.3f}  "
              f"MRR@10 {np.mean([m['mrr@10'] for m in runs]):.3f}  (direct citations aside)")  # fmt: skip


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args()
    settings = common.settings(args)
    corpus = open_corpus(settings)
    # The weights being replaced may not fit this version's features: search without them.
    retriever = load_retriever(settings.index_dir, corpus, open_embedder(settings), reranker=FeatureRecorder())
    tune = capture_examples(retriever, common.tune_questions())
    real = capture_examples(retriever, read_questions(REAL, corpus).questions)
    rows = sum(len(e.keys) for e in tune + real)
    print(f"{len(tune)} 'tune' questions from {common.SOURCE}, {len(real)} from {REAL}, {rows} candidate rows")
    cross_validate(tune, real)
    fit_reranker(tune + real).save(
        args.out, trained_on=f"{common.SOURCE} split=tune ({len(tune)} questions) + {REAL} three_laws "
                             f"({len(real)} questions)", C=C, script="scripts/train_reranker.py")  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
