"""Fit the on-topic model (indexing/data/on_topic.json): is a message a legal question at all?

Legal: the team's questions written for the articles (indexing/data/training_questions.jsonl).
Not legal: everyday messages the team wrote that no statute answers (indexing/data/non_legal_messages.jsonl;
none of them is among scripts/measure_confidence.py's off-topic messages, which measure the result).
Each message is embedded as the bot embeds questions (`Retriever.embed_question`); a logistic regression
with balanced class weights is fitted on the vectors. Prints 5-fold cross-validated shares of each class
on the right side of `bot.answers.composer.MIN_LEGAL`, and the same for the tuning split's legal questions
(never fitted on). The held-out split is never read.

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
from sklearn.model_selection import cross_val_predict

from bot.answers.composer import MIN_LEGAL
from bot.search.pipeline import open_retriever
from indexing.on_topic import DEFAULT_WEIGHTS, OnTopicModel
from indexing.question_bank import DEFAULT_QUESTIONS as LEGAL
from indexing.question_bank import load_written_questions

NOT_LEGAL = Path("indexing/data/non_legal_messages.jsonl")
C = 10.0  # inverse regularisation; 0.1 and 1 keep fewer legal questions or decline fewer others (5-fold)


def _texts(path: Path, key: str) -> list[str]:
    return [json.loads(line)[key] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _model() -> LogisticRegression:
    return LogisticRegression(C=C, class_weight="balanced", max_iter=5000)


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args()
    retriever = open_retriever(common.settings(args))
    legal, other = [q.question for q in load_written_questions(LEGAL)], _texts(NOT_LEGAL, "text")
    vectors = np.stack([retriever.embed_question(text) for text in legal + other])
    labels = np.r_[np.ones(len(legal)), np.zeros(len(other))]
    folds = cross_val_predict(_model(), vectors, labels, cv=5, method="predict_proba")[:, 1]
    print(f"{len(legal)} legal questions, {len(other)} other messages; threshold MIN_LEGAL = {MIN_LEGAL}")
    print(f"5-fold: legal kept {np.mean(folds[: len(legal)] >= MIN_LEGAL):.1%}, "
          f"other declined {np.mean(folds[len(legal):] < MIN_LEGAL):.1%}")  # fmt: skip
    fitted = _model().fit(vectors, labels)
    model = OnTopicModel(fitted.coef_[0], float(fitted.intercept_[0]), retriever.embedder.model_id,
                         f"indexing/data/{LEGAL.name} (legal) vs {NOT_LEGAL}; "
                         "threshold chosen on split=tune")  # fmt: skip
    tune = [model.probability(retriever.embed_question(q.query)) for q in common.tune_questions()]
    print(f"tune split (not fitted on): legal kept {np.mean(np.array(tune) >= MIN_LEGAL):.1%}")
    model.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
