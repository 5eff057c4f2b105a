"""k-fold cross-validation: folds that partition the questions, no question scored by a fit that saw it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from indexing import cross_validation
from indexing.cross_validation import FoldsError, cross_validate, cross_validate_retriever, deal_folds
from indexing.evaluation import Question
from indexing.query import expand_question
from indexing.question_bank import QuestionBank
from indexing.rerank import LinearReranker
from indexing.rerank_training import Example
from indexing.retrieval import Retriever
from tests.fixtures.knowledge import CIVIL_CODE, MEDIATION_LAW


def test_folds_partition_the_questions_the_same_way_each_time() -> None:
    folds = deal_folds(23, 5)
    assert sorted(i for fold in folds for i in fold) == list(range(23))
    assert {len(fold) for fold in folds} == {4, 5}
    assert deal_folds(23, 5) == folds  # fixed seed
    assert deal_folds(23, 5, seed=1) != folds


@pytest.mark.parametrize(("count", "folds", "message"), [(4, 5, "more folds than questions"),
                                                          (10, 1, "at least 2 folds")])
def test_impossible_folds_are_a_clear_error(count: int, folds: int, message: str) -> None:
    with pytest.raises(FoldsError, match=message):
        deal_folds(count, folds)


def test_each_question_is_scored_once_by_a_fit_without_it() -> None:
    questions = [Question(f"q{i}", frozenset({f"L:{i % 3}"})) for i in range(17)]
    scored: list[str] = []

    def fit(train: list[Question]) -> frozenset[str]:
        return frozenset(q.query for q in train)

    def score(model: frozenset[str], question: Question) -> dict[str, dict[str, float]]:
        assert question.query not in model
        assert len(model) in (17 - 5, 17 - 4)  # fitted on every other fold (folds of 5, 4, 4, 4)
        scored.append(question.query)
        return {"hybrid": {"recall@5": float(question.query.endswith("1"))}}

    result = cross_validate(questions, 4, fit, score)
    assert sorted(scored) == sorted(q.query for q in questions)
    assert [fold.size for fold in result.folds] == [5, 4, 4, 4]
    by_fold = [fold.metrics["hybrid"]["recall@5"] for fold in result.folds]
    assert result.mean()["hybrid"]["recall@5"] == pytest.approx(sum(by_fold) / 4, abs=1e-4)


QUESTIONS = [
    Question("调解协议达成以后对方反悔了，协议还算数吗", frozenset({f"{MEDIATION_LAW}:31"})),
    Question("人民调解委员会调解要不要收钱", frozenset({f"{MEDIATION_LAW}:4"})),
    Question("邻居借了我五千块钱一直不还怎么办", frozenset({f"{CIVIL_CODE}:675"})),
    Question("调解员偏袒一方怎么办", frozenset({f"{MEDIATION_LAW}:15"})),
    Question("村里的调解委员会由哪些人组成", frozenset({f"{MEDIATION_LAW}:8"})),
    Question("签了调解协议可以去法院确认吗", frozenset({f"{MEDIATION_LAW}:33"})),
]


def test_retriever_cross_validation_refits_the_reranker_per_fold(
    mini_retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each question is searched while the re-ranker in use is one fitted without it; the retriever's
    own re-ranker is back afterwards; the report has evaluate's shape plus the folds."""
    fitted_on: dict[int, set[str]] = {}
    real_fit = cross_validation.fit_reranker

    def recording_fit(examples: Sequence[Example]) -> LinearReranker:
        model = real_fit(examples)
        fitted_on[id(model)] = {e.question.query for e in examples}
        return model

    searched_by: list[tuple[str, set[str]]] = []
    real_search = mini_retriever.search

    def recording_search(question: str, k: int = 10, mode: str = "hybrid", **kw: object) -> list[object]:
        if mode == "hybrid" and id(mini_retriever.reranker) in fitted_on:
            searched_by.append((question, fitted_on[id(mini_retriever.reranker)]))
        return real_search(question, k, mode, **kw)  # type: ignore[arg-type,return-value]

    monkeypatch.setattr(cross_validation, "fit_reranker", recording_fit)
    monkeypatch.setattr(mini_retriever, "search", recording_search)
    shipped = mini_retriever.reranker
    base = [Question("调解不成可以起诉吗", frozenset({f"{MEDIATION_LAW}:32"}))]
    report = cross_validate_retriever(mini_retriever, QUESTIONS, 3, base=base)

    assert mini_retriever.reranker is shipped
    assert sorted(q for q, _ in searched_by) == sorted(q.query for q in QUESTIONS)
    for question, training in searched_by:
        assert question not in training and base[0].query in training and len(training) == 1 + 4
    assert report["n"] == len(QUESTIONS)
    assert set(report["retrievers"]) == {"hybrid", "bm25", "dense", "bank"}  # type: ignore[arg-type]
    cv = report["cv"]
    assert isinstance(cv, dict) and cv["folds"] == 3 and cv["seed"] == 0
    assert [fold["n"] for fold in cv["per_fold"]] == [2, 2, 2]
    hybrid = [fold["retrievers"]["hybrid"]["recall@5"] for fold in cv["per_fold"]]
    assert report["retrievers"]["hybrid"]["recall@5"] == pytest.approx(sum(hybrid) / 3, abs=1e-4)  # type: ignore[index]


def test_no_question_finds_itself_in_the_question_bank(mini_retriever: Retriever,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """With the questions in the bank (as the real ones are in the shipped bank), every search that
    cross-validation makes, for fitting or for scoring, runs with a bank that lacks that question."""
    bank = mini_retriever.bank
    assert bank is not None
    texts = [expand_question(q.query) for q in QUESTIONS]
    vectors = np.vstack([mini_retriever.embed_question(q.query) for q in QUESTIONS])
    keys = [sorted(q.gold)[0] for q in QUESTIONS]
    with_them = QuestionBank(np.vstack([bank.vectors, vectors]), [*bank.keys, *keys], [*bank.texts, *texts])
    monkeypatch.setattr(mini_retriever, "bank", with_them)
    real_search = mini_retriever.search

    present: dict[str, set[int]] = {q.query: set() for q in QUESTIONS}  # how many of them the bank held

    def checking_search(question: str, *args: object, **kw: object) -> list[object]:
        assert mini_retriever.bank is not None and expand_question(question) not in mini_retriever.bank.texts
        present[question].add(len(set(texts) & set(mini_retriever.bank.texts)))
        return real_search(question, *args, **kw)  # type: ignore[arg-type,return-value]

    monkeypatch.setattr(mini_retriever, "search", checking_search)
    cross_validate_retriever(mini_retriever, QUESTIONS, 3, retrievers=("hybrid",))
    # Three folds of two: scored with the other two folds' four questions in the bank; as training
    # questions, with the third fold's two (neither their own fold nor the one held out).
    assert all(counts == {4, 2} for counts in present.values()), present
    assert mini_retriever.bank is with_them
