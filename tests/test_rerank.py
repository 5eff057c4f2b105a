"""Re-ranking: features computed as documented, the linear model's arithmetic and weights file, and
how hybrid search applies a re-ranker (direct citations first, the head reordered, the tail after)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from indexing.rerank import (
    ABSENT_RANK,
    DEFAULT_WEIGHTS,
    DEPTH,
    FEATURES,
    TOWNSHIP_WEIGHTS,
    BankPlainScore,
    LinearReranker,
    PlainScore,
    Signals,
    WeightsFileError,
    feature_matrix,
    overlap,
    weights_for,
)
from indexing.retrieval import Retriever
from knowledge.corpus import MISSION_LAWS, TOWNSHIP_LAWS, VILLAGE_LAWS

CIVIL = "中华人民共和国民法典"


def _signals(**changes: object) -> Signals:
    values: dict[str, object] = {
        "fused": 0.02, "dense": 0.8, "margin": 0.01, "bm25": 10.0, "bm25_rank": 0, "dense_rank": 0,
        "bank_share": 0.6, "bank_cosine": 0.9, "bank_rank": 0,
        "coverage": 0.5, "raw_coverage": 0.25, "title_overlap": 0.0, "length": 99, "cited": 0,
        "plain": PlainScore(0.85, 0.0, 0), "bank_words": 0.5, "bank_plain": BankPlainScore(0.9, 0.3),
    }  # fmt: skip
    values.update(changes)
    return Signals(**values)  # type: ignore[arg-type]


def test_features_compare_each_candidate_with_the_best_of_its_question() -> None:
    weaker = _signals(dense=0.7, margin=-0.02, bm25=2.5, bm25_rank=None, length=0)
    matrix = feature_matrix([_signals(), weaker])
    column = {name: matrix[:, i] for i, name in enumerate(FEATURES)}
    assert matrix.shape == (2, len(FEATURES))
    np.testing.assert_allclose(column["position"], [0.0, math.log(2)])
    np.testing.assert_allclose(column["dense_gap"], [0.0, -0.1])
    np.testing.assert_allclose(column["margin_gap"], [0.0, -0.03])
    np.testing.assert_allclose(column["bm25"], [1.0, 0.25])
    np.testing.assert_allclose(column["bm25_rank"], [0.0, math.log(ABSENT_RANK + 1)])
    np.testing.assert_allclose(column["length"], [math.log(100), 0.0])
    assert feature_matrix([]).shape == (0, len(FEATURES))


def test_bank_features_compare_with_the_closest_written_question_of_any_candidate() -> None:
    # The third article has no written question: it counts as far as the farthest candidate.
    matrix = feature_matrix([_signals(), _signals(bank_share=0.1, bank_cosine=0.8, bank_rank=3),
                             _signals(bank_share=0.0, bank_cosine=None, bank_rank=None)])  # fmt: skip
    column = {name: matrix[:, i] for i, name in enumerate(FEATURES)}
    np.testing.assert_allclose(column["bank_share"], [0.6, 0.1, 0.0])
    np.testing.assert_allclose(column["bank_gap"], [0.0, -0.1, -0.1])
    np.testing.assert_allclose(column["bank_rank"], [0.0, math.log(4), math.log(ABSENT_RANK + 1)])
    assert np.all(np.isfinite(feature_matrix([_signals(bank_cosine=None)])))


def test_bank_plain_features_compare_with_the_best_candidate_and_floor_articles_without_questions() -> None:
    matrix = feature_matrix([_signals(bank_plain=BankPlainScore(0.8, 0.1)), _signals(),
                             _signals(bank_plain=BankPlainScore(None, 0.0))])  # fmt: skip
    column = {name: matrix[:, i] for i, name in enumerate(FEATURES)}
    np.testing.assert_allclose(column["bank_plain"], [0.8, 0.9, 0.8])  # none: the lowest among them
    np.testing.assert_allclose(column["bank_plain_gap"], [-0.1, 0.0, -0.1])
    np.testing.assert_allclose(column["bank_plain_share"], [0.1, 0.3, 0.0])
    np.testing.assert_allclose(column["bank_plain_rank"], [math.log(2), 0.0, math.log(3)])
    blind = feature_matrix([_signals(bank_plain=None), _signals()])
    assert np.isnan(blind[:, [FEATURES.index(n) for n in ("bank_plain", "bank_plain_share")]]).all()


def test_without_a_question_bank_its_features_count_as_their_mean() -> None:
    reranker = LinearReranker(np.full(len(FEATURES), 0.5), np.full(len(FEATURES), 2.0),
                              np.linspace(-1, 1, len(FEATURES)), 0.1)  # fmt: skip
    blind = feature_matrix([_signals(bank_share=None), _signals(bank_share=None, dense=0.6)])
    bank_columns = [FEATURES.index(name) for name in ("bank_share", "bank_gap", "bank_rank",
                                                      "lexical_x_bank_rank", "covered_x_bank_rank")]
    assert np.isnan(blind[:, bank_columns]).all()
    at_mean = blind.copy()
    at_mean[:, bank_columns] = 0.5
    np.testing.assert_allclose(reranker.scores(blind), reranker.scores(at_mean))


def test_no_bm25_score_anywhere_does_not_divide_by_zero() -> None:
    matrix = feature_matrix([_signals(bm25=0.0), _signals(bm25=0.0)])
    assert np.all(np.isfinite(matrix))


def test_overlap_is_the_share_of_question_words_found() -> None:
    words = frozenset({"借款", "利息", "还"})
    assert overlap(words, frozenset({"借款", "利息", "合同"})) == pytest.approx(2 / 3)
    assert overlap(frozenset(), frozenset({"借款"})) == 0.0


def _reranker(weights: list[float], bias: float = 0.0) -> LinearReranker:
    n = len(FEATURES)
    return LinearReranker(np.zeros(n), np.ones(n), np.array(weights + [0.0] * (n - len(weights))), bias)


def test_scores_are_the_logistic_of_the_standardised_features() -> None:
    reranker = LinearReranker(np.full(len(FEATURES), 1.0), np.full(len(FEATURES), 2.0),
                              np.linspace(-1, 1, len(FEATURES)), 0.5)  # fmt: skip
    features = feature_matrix([_signals(), _signals(dense=0.5)])
    expected = 1 / (1 + np.exp(-(((features - 1.0) / 2.0) @ np.linspace(-1, 1, len(FEATURES)) + 0.5)))
    np.testing.assert_allclose(reranker.scores(features), expected)


def test_weights_survive_a_save_and_load(tmp_path: Path) -> None:
    original = _reranker([0.3, -0.2, 1.5], bias=-2.0)
    original.save(tmp_path / "w.json", trained_on="test")
    loaded = LinearReranker.load(tmp_path / "w.json")
    features = feature_matrix([_signals(), _signals(dense=0.1, fused=0.01)])
    np.testing.assert_allclose(loaded.scores(features), original.scores(features))
    assert json.loads((tmp_path / "w.json").read_text(encoding="utf-8"))["trained_on"] == "test"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": ["fused"]}, "was trained on features"),
        ({"weights": [1.0, 2.0]}, f"need {len(FEATURES)} values"),
        ({"scale": [0.0] * len(FEATURES)}, "scale > 0"),
    ],
)
def test_weights_for_other_features_are_refused(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    _reranker([1.0]).save(tmp_path / "w.json")
    data = json.loads((tmp_path / "w.json").read_text(encoding="utf-8"))
    data.update(change)
    (tmp_path / "w.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(WeightsFileError, match=message):
        LinearReranker.load(tmp_path / "w.json")


def test_the_shipped_weights_load_and_were_fitted_on_the_tuning_split_and_real_questions() -> None:
    reranker = LinearReranker.load()
    assert np.all(np.isfinite(reranker.weights)) and np.any(reranker.weights != 0)
    provenance = json.loads(DEFAULT_WEIGHTS.read_text(encoding="utf-8"))["trained_on"]
    assert "split=tune" in provenance and "stard_train.jsonl with all articles in the corpus (557" in provenance
    assert "heldout" not in provenance


class _Reverse:
    """Scores the candidates in reverse of the fused order: makes every reordering visible."""

    def scores(self, features: np.ndarray) -> np.ndarray:
        return np.arange(len(features), dtype=np.float64) / max(len(features), 1)


def _with_reranker(retriever: Retriever, reranker: object) -> Retriever:
    clone = copy.copy(retriever)
    clone.reranker = reranker  # type: ignore[assignment]
    return clone


@pytest.mark.parametrize("depth", [DEPTH, 5])
def test_hybrid_search_puts_the_head_in_the_rerankers_order(
    mini_retriever: Retriever, depth: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("indexing.retrieval.DEPTH", depth)  # 5: a tail beyond the depth on the small corpus
    question = "邻居借了我五千块钱一直不还怎么办"
    fused = _with_reranker(mini_retriever, None).search(question, k=DEPTH + 10)
    reversed_ = _with_reranker(mini_retriever, _Reverse()).search(question, k=DEPTH + 10)
    head = min(depth, len(fused))
    assert len(reversed_) == len(fused) > 5
    assert [h.article.key for h in reversed_[:head]] == [h.article.key for h in fused[:head]][::-1]
    assert [h.article.key for h in reversed_[head:]] == [h.article.key for h in fused[head:]]
    assert all(h.score == 0.0 for h in reversed_[head:])  # beyond the re-ranked depth
    assert [h.score for h in reversed_[:head]] == sorted((h.score for h in reversed_[:head]), reverse=True)


def test_direct_citations_stay_ahead_of_the_reranked(mini_retriever: Retriever) -> None:
    hits = _with_reranker(mini_retriever, _Reverse()).search("民法典第1079条说的什么", k=5)
    assert hits[0].article.key == f"{CIVIL}:1079" and "direct" in hits[0].retrievers
    assert all("direct" not in h.retrievers for h in hits[1:])


def test_single_retriever_modes_are_not_reranked(mini_retriever: Retriever) -> None:
    question = "老人没人赡养怎么办"
    for mode in ("bm25", "dense", "bank"):
        plain = _with_reranker(mini_retriever, None).search(question, k=8, mode=mode)
        reranked = _with_reranker(mini_retriever, _Reverse()).search(question, k=8, mode=mode)
        assert [h.article.key for h in reranked] == [h.article.key for h in plain]


def test_the_loaded_retriever_reranks_with_the_shipped_weights(mini_retriever: Retriever) -> None:
    assert isinstance(mini_retriever.reranker, LinearReranker)
    hits = mini_retriever.search("我爸妈老了，哥哥不给养老钱怎么办", k=DEPTH)
    scores = [h.score for h in hits]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores[:5] == sorted(scores[:5], reverse=True)


def test_question_strengths_weigh_each_retrievers_rank() -> None:
    """BM25's best score and the best raw coverage are the question's; each multiplies every rank."""
    matrix = feature_matrix([_signals(), _signals(bm25=2.5, bm25_rank=4, dense_rank=None, raw_coverage=0.75,
                                                  bank_rank=2)])  # fmt: skip
    column = {name: matrix[:, i] for i, name in enumerate(FEATURES)}
    lexical, covered = math.log1p(10.0), 0.75
    np.testing.assert_allclose(column["lexical_x_bm25_rank"], [0.0, lexical * math.log(5)])
    np.testing.assert_allclose(column["lexical_x_dense_rank"], [0.0, lexical * math.log(ABSENT_RANK + 1)])
    np.testing.assert_allclose(column["covered_x_bank_rank"], [0.0, covered * math.log(3)])
    blind = feature_matrix([_signals(bank_share=None, bank_rank=None)])[0]
    assert math.isnan(blind[FEATURES.index("lexical_x_bank_rank")])
    assert math.isnan(blind[FEATURES.index("covered_x_bank_rank")])


def test_citation_and_plain_encoder_features() -> None:
    matrix = feature_matrix([_signals(cited=3), _signals(cited=0, plain=PlainScore(0.8, -0.05, 6))])
    column = {name: matrix[:, i] for i, name in enumerate(FEATURES)}
    np.testing.assert_allclose(column["cited"], [math.log(4), 0.0])
    np.testing.assert_allclose(column["ever_cited"], [1.0, 0.0])
    np.testing.assert_allclose(column["plain"], [0.85, 0.8])
    np.testing.assert_allclose(column["plain_gap"], [0.0, -0.05])
    np.testing.assert_allclose(column["plain_rank"], [0.0, math.log(7)])


def test_without_the_plain_encoder_its_features_count_as_their_mean() -> None:
    reranker = LinearReranker(np.full(len(FEATURES), 0.5), np.full(len(FEATURES), 2.0),
                              np.linspace(-1, 1, len(FEATURES)), 0.1)  # fmt: skip
    blind = feature_matrix([_signals(plain=None), _signals(plain=None, dense=0.6)])
    plain_columns = [FEATURES.index(name) for name in ("plain", "plain_gap", "plain_rank")]
    assert np.isnan(blind[:, plain_columns]).all()
    assert np.isfinite(np.delete(blind, plain_columns, axis=1)).all()
    at_mean = blind.copy()
    at_mean[:, plain_columns] = 0.5
    np.testing.assert_allclose(reranker.scores(blind), reranker.scores(at_mean))


def test_bank_words_features_compare_with_the_best_candidate() -> None:
    matrix = feature_matrix([_signals(bank_words=-0.25), _signals(bank_words=1.0), _signals(bank_words=0.5)])
    column = {name: matrix[:, i] for i, name in enumerate(FEATURES)}
    np.testing.assert_allclose(column["bank_words"], [-0.25, 1.0, 0.5])
    np.testing.assert_allclose(column["bank_words_gap"], [-1.25, 0.0, -0.5])
    np.testing.assert_allclose(column["bank_words_rank"], [math.log(3), 0.0, math.log(2)])
    blind = feature_matrix([_signals(bank_words=None), _signals(bank_words=None)])
    assert np.isnan(blind[:, FEATURES.index("bank_words") :][:, :3]).all()


def test_the_shipped_weights_follow_the_laws_of_the_corpus() -> None:
    assert weights_for(MISSION_LAWS) == DEFAULT_WEIGHTS
    assert weights_for((*MISSION_LAWS, "大柳树村村规民约")) == DEFAULT_WEIGHTS  # local rules beside the three
    assert weights_for(TOWNSHIP_LAWS) == weights_for(MISSION_LAWS[:1] + VILLAGE_LAWS[:1]) == TOWNSHIP_WEIGHTS
    township = LinearReranker.load(TOWNSHIP_WEIGHTS)
    assert np.all(np.isfinite(township.weights)) and not np.allclose(township.weights, LinearReranker.load().weights)
    provenance = json.loads(TOWNSHIP_WEIGHTS.read_text(encoding="utf-8"))
    assert provenance["laws"] == len(TOWNSHIP_LAWS) and "heldout" not in provenance["trained_on"]
