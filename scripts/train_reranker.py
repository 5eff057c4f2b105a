"""Fit the re-ranker's weights (indexing/data/reranker.json) on written and real questions.

For each question of the dev sets' tuning splits and of STARD's real questions whose articles all lie in
the configured corpus (indexing/data/stard_train.jsonl: 557 for the three laws, 652 for the 19 of a
township), hybrid search runs without re-ranking; the top `indexing.rerank.DEPTH`
fused articles (direct citations aside) give one row of features each, labelled by whether the article
is gold; a real question is searched with a question bank that holds none of its fold's questions
(they are in the shipped bank). An L2 logistic regression on standardised features is fitted to those rows
(`indexing.rerank_training`). The dev sets' held-out splits are never read. Prints 5-fold
cross-validated recall@5 / MRR@10 on the real questions (each fold ranked by weights fitted on the
tuning split and the other folds, as `pufa eval --cv 5`), then writes the weights fitted on all.

Run from the repository root, with the index built (`pufa build`); the weights go to
indexing/data/reranker.json, or reranker_township.json when PUFA_LAWS holds the laws of village life:
    .venv/bin/python scripts/train_reranker.py [--data-dir data] [--out FILE]
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

from pathlib import Path

import common

from bot.search.pipeline import open_corpus, open_retriever
from indexing.cross_validation import SEED, cross_validate_retriever, deal_folds, fold_examples
from indexing.evaluation import Question, read_questions
from indexing.question_bank import REAL_QUESTIONS
from indexing.rerank import weights_for
from indexing.rerank_training import C, FeatureRecorder, capture_examples, fit_reranker
from indexing.retrieval import Retriever

REAL = REAL_QUESTIONS
FOLDS = 5


def cross_validate(retriever: Retriever, tune: list[Question], real: list[Question]) -> None:
    report = cross_validate_retriever(retriever, real, FOLDS, base=tune, retrievers=("hybrid",))
    hybrid = report["retrievers"]["hybrid"]  # type: ignore[index]
    print(f"{FOLDS}-fold on STARD, hybrid: recall@5 {hybrid['recall@5']:.3f}  MRR@10 {hybrid['mrr@10']:.3f}")


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--out", type=Path, default=None,
                        help="default: the shipped weights for the configured laws (indexing.rerank.weights_for)")
    args = parser.parse_args()
    settings = common.settings(args)
    corpus = open_corpus(settings)
    out = args.out or weights_for(corpus.laws)
    # The weights being replaced may not fit this version's features: search without them.
    retriever = open_retriever(settings, reranker=FeatureRecorder())
    tune_questions = common.tune_questions(corpus)
    real_questions = read_questions(REAL, corpus).questions
    cross_validate(retriever, tune_questions, real_questions)
    # The real questions are in the question bank: each fold's features come from a bank without it.
    tune = capture_examples(retriever, tune_questions)
    real = [e for held in deal_folds(len(real_questions), FOLDS, SEED)
            for e in fold_examples(retriever, [real_questions[i] for i in held])]  # fmt: skip
    rows = sum(len(e.keys) for e in tune + real)
    print(f"{len(tune)} 'tune' questions from {common.SOURCE}, {len(real)} from {REAL}, {rows} candidate rows")
    fit_reranker(tune + real).save(
        out, trained_on=f"{common.SOURCE} and {common.VILLAGE.name} split=tune ({len(tune)} questions) "
                             f"+ indexing/data/{REAL.name} with all articles in the corpus ({len(real)} questions, "
                             f"features from a bank without their fold)", laws=len(corpus.laws), C=C,
        script="scripts/train_reranker.py")  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
