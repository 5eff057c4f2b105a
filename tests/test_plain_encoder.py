"""The plain question encoder: its export, and its view of each candidate article for the re-ranker."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexing.embedder import Embedder
from indexing.onnx_encoder import OnnxQueryEncoder, truncated
from indexing.plain_encoder import PlainScorer, load_plain_encoder
from indexing.rerank import FEATURES, PlainScore
from indexing.rerank_training import FeatureRecorder
from indexing.retrieval import Retriever

CIVIL = "中华人民共和国民法典"


class _Fixed:
    """An encoder that gives one vector whatever the question (the scorer's arithmetic is under test)."""

    def __init__(self, vector: Sequence[float]) -> None:
        self.vector = np.asarray(vector, dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(self.vector, (len(texts), 1))


def test_each_article_is_seen_through_its_best_chunk_and_ranked_among_all() -> None:
    vectors = np.array([[1, 0], [0, 1], [0.6, 0.8], [0.8, 0.6], [-1, 0]], dtype=np.float32)
    rows = ["民法典:2", "民法典:1", "民法典:2", "民法典:3", "民法典:1"]  # rows of one article need not be together
    view = PlainScorer(_Fixed([1, 0]), vectors, rows).view("借钱不还")
    assert view.scores(["民法典:3", "民法典:1", "民法典:2"]) == [
        PlainScore(pytest.approx(0.8), pytest.approx(-0.2), 1),  # type: ignore[arg-type]
        PlainScore(0.0, -1.0, 2), PlainScore(1.0, 0.0, 0)]
    assert view.ranking(2) == ["民法典:2", "民法典:3"] and view.ranking(9) == ["民法典:2", "民法典:3", "民法典:1"]


def test_the_export_encodes_like_the_float_model(plain_encoder: OnnxQueryEncoder, embedder: Embedder) -> None:
    questions = ["邻居借了我五千块钱一直不还怎么办", "老人没人赡养怎么办"]
    plain = plain_encoder.encode(questions)
    float_model = embedder.model.encode(questions, prompt_name="query", normalize_embeddings=True)
    assert plain.shape == (2, embedder.dim)
    assert np.all(np.sum(plain * float_model, axis=1) > 0.98)
    # The adapted question side (what dense search uses) is another encoder: the plain one is not it.
    adapted = embedder.encode_queries(questions, reference=True)
    assert np.all(np.sum(plain * adapted, axis=1) < 0.99)


def test_a_shared_tokenizer_encodes_as_the_exports_own(plain_encoder: OnnxQueryEncoder, embedder: Embedder,
                                                        model_cache_dir: Path) -> None:  # fmt: skip
    own = load_plain_encoder(model_cache_dir, embedder.document_model_id)  # the export's own tokenizer
    assert own is not None and own._tokenizer is not plain_encoder._tokenizer
    long = "邻居借了我五千块钱一直不还，" * 80  # past the model's 512 tokens
    questions = ["老人没人赡养怎么办", long]
    assert np.allclose(own.encode(questions), plain_encoder.encode(questions), atol=1e-6)
    # Cut as sentence-transformers cuts it: still the float model's vector.
    float_model = embedder.model.encode([long], prompt_name="query", normalize_embeddings=True)
    assert float(plain_encoder.encode([long])[0] @ float_model[0]) > 0.98


def test_truncation_keeps_the_closing_token() -> None:
    assert truncated([0, 5, 6, 7, 8, 2], 4) == [0, 5, 6, 2]
    assert truncated([0, 5, 2], 4) == [0, 5, 2] and truncated([0, 5, 6, 2], 4) == [0, 5, 6, 2]


def test_without_an_export_there_is_no_plain_encoder(tmp_path: Path, embedder: Embedder,
                                                     model_cache_dir: Path) -> None:  # fmt: skip
    assert load_plain_encoder(tmp_path, embedder.document_model_id) is None
    assert load_plain_encoder(model_cache_dir, "another-model") is None
    assert load_plain_encoder(model_cache_dir, embedder.document_model_id) is not None


def test_hybrid_search_hands_the_plain_view_to_the_reranker(mini_retriever: Retriever) -> None:
    """Its view of the articles, and of the question bank's questions (`indexing.bank_plain`)."""
    columns = [FEATURES.index(name) for name in ("plain", "plain_gap", "plain_rank", "bank_plain",
                                                 "bank_plain_gap", "bank_plain_share", "bank_plain_rank")]
    recorder, kept = FeatureRecorder(), mini_retriever.reranker
    mini_retriever.reranker = recorder
    try:
        mini_retriever.search("邻居借了我五千块钱一直不还怎么办", k=10)
        seen = recorder.features[:, columns]
        plain, mini_retriever.plain = mini_retriever.plain, None
        try:
            mini_retriever.search("邻居借了我五千块钱一直不还怎么办", k=10)
        finally:
            mini_retriever.plain = plain
    finally:
        mini_retriever.reranker = kept
    assert len(seen) > 5 and np.isfinite(seen).all() and (seen[:, [1, 4]] <= 0).all()
    assert seen[:, 5].sum() > 0  # some candidates own some of the closest bank questions
    assert np.isnan(recorder.features[:, columns]).all()


def test_the_plain_encoders_nearest_articles_join_the_candidates(mini_retriever: Retriever) -> None:
    question = "邻居借了我五千块钱一直不还怎么办"
    hits = mini_retriever.search(question, k=50)
    assert plain_view_top(mini_retriever, question) in {h.article.key for h in hits}
    assert any("plain" in h.retrievers for h in hits)
    assert all("plain" not in h.retrievers for h in mini_retriever.search(question, k=50, mode="dense"))


def plain_view_top(retriever: Retriever, question: str) -> str:
    assert retriever.plain is not None
    return retriever.plain.view(question).ranking(1)[0]
