"""Fit the on-topic model (indexing/data/on_topic.json): is a message a legal question at all?

Legal: the team's questions written for the articles (indexing/data/training_questions.jsonl) and real
people's (all of indexing/data/stard_train.jsonl's, whatever their laws). Not legal: everyday messages the
team wrote that no statute answers (indexing/data/non_legal_messages.jsonl; none of them is among
scripts/measure_confidence.py's off-topic messages, which measure the result). Each message is read as the
bot reads questions: its question vector (`Retriever.embed_question`) beside its plain encoder's vector
(`indexing.plain_encoder`); a logistic regression with balanced class weights is fitted on both. Prints
5-fold cross-validated shares of the real questions and the everyday messages on the right side of
`bot.answers.composer.MIN_LEGAL` (the written questions stay in every fold's fit), and the share of the
tuning split's legal questions (never fitted on). The held-out split is never read.

Run from the repository root, with the index built (`pufa build`), after training the question adapter:
    .venv/bin/python scripts/train_on_topic.py [--data-dir data] [--out indexing/data/on_topic.json]
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

import json
from pathlib import Path

import common
import numpy as np
from sklearn.linear_model import LogisticRegression

from bot.answers.composer import MIN_LEGAL
from bot.search.pipeline import open_retriever
from indexing.build import Manifest
from indexing.on_topic import DEFAULT_WEIGHTS, OnTopicModel
from indexing.question_bank import DEFAULT_QUESTIONS as LEGAL
from indexing.question_bank import REAL_QUESTIONS, load_written_questions
from indexing.retrieval import Retriever

NOT_LEGAL = Path("indexing/data/non_legal_messages.jsonl")
# Inverse regularisation. 5-fold, real questions kept / everyday messages declined by the on-topic model
# alone at 0.2: C=1 99.7 % / 90.0 %, C=10 99.7 % / 93.4 % (question vectors alone: 99.5 % / 88.5 %).
C = 10.0
FOLDS = 5


def _texts(path: Path, key: str) -> list[str]:
    return [json.loads(line)[key] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _model() -> LogisticRegression:
    return LogisticRegression(C=C, class_weight="balanced", max_iter=5000)


def _vectors(retriever: Retriever, texts: list[str]) -> np.ndarray:
    """Each text's question vector and plain vector, side by side."""
    assert retriever.plain is not None, "the on-topic model reads the plain encoder: run `pufa build` first"
    return np.stack([np.concatenate([retriever.embed_question(t), retriever.plain.vector(t.strip())]) for t in texts])


def _cross_validated(written: np.ndarray, real: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each real question's and everyday message's probability, fitted without its fold (seed 0)."""
    rng = np.random.default_rng(0)
    real_fold, other_fold = rng.integers(0, FOLDS, len(real)), rng.integers(0, FOLDS, len(other))
    real_p, other_p = np.zeros(len(real)), np.zeros(len(other))
    for fold in range(FOLDS):
        kept_real, kept_other = real[real_fold != fold], other[other_fold != fold]
        fitted = _model().fit(np.vstack([written, kept_real, kept_other]),
                              np.r_[np.ones(len(written) + len(kept_real)), np.zeros(len(kept_other))])  # fmt: skip
        real_p[real_fold == fold] = fitted.predict_proba(real[real_fold == fold])[:, 1]
        other_p[other_fold == fold] = fitted.predict_proba(other[other_fold == fold])[:, 1]
    return real_p, other_p


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args()
    settings = common.settings(args)
    retriever = open_retriever(settings)
    written = _vectors(retriever, [q.question for q in load_written_questions(LEGAL)])
    real = _vectors(retriever, _texts(REAL_QUESTIONS, "query"))
    other = _vectors(retriever, _texts(NOT_LEGAL, "text"))
    real_p, other_p = _cross_validated(written, real, other)
    print(f"{len(written)} written and {len(real)} real questions, {len(other)} other messages; "
          f"threshold MIN_LEGAL = {MIN_LEGAL}")  # fmt: skip
    print(f"{FOLDS}-fold: real questions kept {np.mean(real_p >= MIN_LEGAL):.1%}, "
          f"other declined {np.mean(other_p < MIN_LEGAL):.1%}")  # fmt: skip
    fitted = _model().fit(np.vstack([written, real, other]),
                          np.r_[np.ones(len(written) + len(real)), np.zeros(len(other))])  # fmt: skip
    plain_model_id = Manifest.read(settings.index_dir).document_model_id
    model = OnTopicModel(fitted.coef_[0], float(fitted.intercept_[0]), retriever.embedder.model_id,
                         f"indexing/data/{LEGAL.name} and {REAL_QUESTIONS.name} (legal) vs {NOT_LEGAL}; "
                         "threshold chosen on split=tune", plain_model_id=plain_model_id)  # fmt: skip
    tune = _vectors(retriever, [q.query for q in common.tune_questions()])
    print(f"tune split (not fitted on): legal kept {np.mean(fitted.predict_proba(tune)[:, 1] >= MIN_LEGAL):.1%}")
    model.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
