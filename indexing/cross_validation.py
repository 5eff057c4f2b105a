"""k-fold cross-validation of retrieval on questions that also serve to fit its parameters.

When the re-ranker (or any other lever) is fitted on real questions, its figure on those questions
must come from questions it was not fitted on: the questions are shuffled with a fixed seed and dealt
into k folds; each fold is scored by parameters fitted on the other folds only, and the report is the
mean over the folds of each fold's mean.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from indexing.evaluation import KS, RETRIEVERS, Question, mean_metrics, question_metrics
from indexing.query import expand_question
from indexing.rerank import LinearReranker
from indexing.rerank_training import Example, capture_examples, fit_reranker

if TYPE_CHECKING:
    from indexing.question_bank import QuestionBank
    from indexing.retrieval import Retriever

SEED = 0
Model = TypeVar("Model")
Metrics = dict[str, float]


class FoldsError(ValueError):
    """More folds than questions, or fewer than two."""


def deal_folds(count: int, folds: int, seed: int = SEED) -> list[list[int]]:
    """Indices 0..count-1 shuffled by `seed` and dealt round-robin into `folds` folds (sizes differ by ≤ 1)."""
    if folds < 2:
        raise FoldsError(f"--cv needs at least 2 folds, not {folds}")
    if folds > count:
        raise FoldsError(f"--cv {folds}: more folds than questions ({count}); use at most {count}")
    order = random.Random(seed).sample(range(count), count)
    return [sorted(order[i::folds]) for i in range(folds)]


@dataclass(frozen=True)
class Fold(Generic[Model]):
    size: int
    model: Model  # what was fitted on the other folds
    metrics: dict[str, Metrics]  # retriever → mean metrics over this fold's questions


@dataclass(frozen=True)
class CrossValidation(Generic[Model]):
    seed: int
    folds: list[Fold[Model]]

    def mean(self) -> dict[str, Metrics]:
        """retriever → each metric's mean over the folds' means."""
        names = self.folds[0].metrics
        return {name: mean_metrics(fold.metrics[name] for fold in self.folds) for name in names}


def cross_validate(questions: Sequence[Question], folds: int, fit: Callable[[list[Question]], Model],
                   score: Callable[[Model, Question], dict[str, Metrics]],
                   seed: int = SEED) -> CrossValidation[Model]:  # fmt: skip
    """Each fold's questions scored by `score(fit(the other folds' questions), question)`;
    `score` returns retriever → that question's metrics."""
    out = []
    for held in deal_folds(len(questions), folds, seed):
        held_set = set(held)
        model = fit([q for i, q in enumerate(questions) if i not in held_set])
        scored = [score(model, questions[i]) for i in held]
        names = scored[0]
        out.append(Fold(len(held), model, {name: mean_metrics(s[name] for s in scored) for name in names}))
    return CrossValidation(seed, out)


def cross_validate_retriever(retriever: Retriever, questions: Sequence[Question], folds: int,
                             base: Sequence[Question] = (), retrievers: Sequence[str] = RETRIEVERS,
                             seed: int = SEED) -> dict[str, object]:  # fmt: skip
    """`pufa eval --cv`: each fold's questions searched by the retriever with a re-ranker fitted on
    `base` (the written tuning questions) and the other folds, and with a question bank that holds none
    of the fold's questions (the real questions are in the shipped bank). A training fold's features
    come from a bank without that fold either, as `fold_examples` gives them. The retriever's own bank
    and re-ranker are put back after. The report has `evaluate`'s shape plus "cv": each fold's size and
    figures."""
    dealt = deal_folds(len(questions), folds, seed)
    folds_of = [[questions[i] for i in held] for held in dealt]
    depth = max(KS)
    bank, kept = retriever.bank, retriever.reranker

    def fit(train: list[Question]) -> LinearReranker:
        held = next(n for n, fold in enumerate(folds_of) if fold[0] not in train)
        others = [fold for n, fold in enumerate(folds_of) if n != held]
        with bank_without(retriever, folds_of[held]):
            examples = capture_examples(retriever, base)
        examples += [e for fold in others for e in fold_examples(retriever, fold, folds_of[held])]
        return fit_reranker(examples)

    fold_number = {q: n for n, fold in enumerate(folds_of) for q in fold}
    fold_banks: dict[int, QuestionBank | None] = {}  # each fold's bank without it, made once

    def score(model: LinearReranker, question: Question) -> dict[str, Metrics]:
        n = fold_number[question]
        if n not in fold_banks:
            with bank_without(retriever, folds_of[n]):
                fold_banks[n] = retriever.bank
        retriever.reranker, retriever.bank = model, fold_banks[n]
        try:
            return {name: question_metrics([h.article.key for h in retriever.search(question.query, depth, name)],
                                           question.gold) for name in retrievers}  # fmt: skip
        finally:
            retriever.bank = bank  # every other step takes out questions from the whole bank

    try:
        result = cross_validate(questions, folds, fit, score, seed)
    finally:
        retriever.bank, retriever.reranker = bank, kept
    return {
        "n": len(questions), "retrievers": result.mean(),
        "cv": {"folds": folds, "seed": seed, "fitted": "re-ranker", "base_questions": len(base),
               "per_fold": [{"n": f.size, "retrievers": f.metrics} for f in result.folds]},
    }  # fmt: skip


def fold_examples(retriever: Retriever, fold: Sequence[Question], also_out: Sequence[Question] = ()) -> list[Example]:
    """The re-ranker's examples for a fold's questions, searched with a question bank that holds none of
    them (nor `also_out`'s): a question must not find itself among the bank's entries."""
    with bank_without(retriever, [*fold, *also_out]):
        return capture_examples(retriever, fold)


@contextmanager
def bank_without(retriever: Retriever, questions: Sequence[Question]) -> Iterator[None]:
    """While open, the retriever's question bank lacks `questions` (real questions are in the default bank)."""
    bank = retriever.bank
    if bank is not None:
        retriever.bank = bank.without({expand_question(q.query.strip()) for q in questions})
    try:
        yield
    finally:
        retriever.bank = bank
