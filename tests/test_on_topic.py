"""The on-topic model: legal questions pass, everyday messages no statute answers do not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.answers.composer import MIN_LEGAL
from indexing.build import build_index, load_retriever
from indexing.embedder import Embedder
from indexing.on_topic import DEFAULT_WEIGHTS, OnTopicModel
from indexing.retrieval import Retriever
from knowledge.corpus import Corpus

LEGAL = ["我爸妈老了，哥哥不给养老钱怎么办", "邻居借了钱一直不还", "离婚以后孩子归谁"]
# From scripts/measure_confidence.py's off-topic messages, which the model was not fitted on.
OTHER = ["明天天气怎么样", "红烧肉怎么做才好吃", "狗不吃东西怎么办", "高铁票怎么在手机上买"]


def test_probability_is_the_logistic_of_the_score_and_survives_save_and_load(tmp_path: Path) -> None:
    model = OnTopicModel(np.array([2.0, -1.0]), 0.5, "some-model", "test")
    assert model.probability(np.array([0.0, 0.5])) == pytest.approx(0.5)
    assert model.probability(np.array([1.0, 0.0])) == pytest.approx(1 / (1 + np.exp(-2.5)))
    model.save(tmp_path / "m.json")
    again = OnTopicModel.load(tmp_path / "m.json")
    assert again.model_id == "some-model" and again.bias == 0.5 and again.plain_model_id == ""
    np.testing.assert_allclose(again.weights, model.weights)


def test_a_model_reading_the_plain_vector_too_needs_it() -> None:
    model = OnTopicModel(np.array([2.0, -1.0, 1.0]), 0.0, "some-model", plain_model_id="plain-model")
    assert model.probability(np.array([1.0, 0.0]), np.array([1.0])) == pytest.approx(1 / (1 + np.exp(-3.0)))
    with pytest.raises(ValueError, match="plain"):
        model.probability(np.array([1.0, 0.0]))


def test_the_shipped_model_fits_the_default_question_and_plain_encoders(embedder: Embedder) -> None:
    shipped = json.loads(DEFAULT_WEIGHTS.read_text(encoding="utf-8"))
    assert shipped["model_id"] == embedder.model_id and shipped["plain_model_id"] == embedder.document_model_id
    assert len(shipped["weights"]) == 2 * embedder.dim  # the question vector, then the plain one
    assert "split=tune" in shipped["trained_on"] and "heldout" not in shipped["trained_on"]


def test_legal_questions_pass_and_everyday_messages_do_not(mini_retriever: Retriever) -> None:
    assert mini_retriever.on_topic is not None
    legal = [mini_retriever.legal_probability(q, mini_retriever.embed_question(q)) for q in LEGAL]
    other = [mini_retriever.legal_probability(q, mini_retriever.embed_question(q)) for q in OTHER]
    assert min(legal) >= MIN_LEGAL, legal
    assert max(other) < MIN_LEGAL, other


def test_without_the_plain_encoder_a_model_reading_it_lets_every_message_through(
    mini_index_dir: Path, mini_corpus: Corpus, embedder: Embedder
) -> None:
    retriever = load_retriever(mini_index_dir, mini_corpus, embedder)  # no plain encoder given
    assert retriever.on_topic is not None and retriever.on_topic.plain_model_id
    assert retriever.legal_probability(OTHER[0], retriever.embed_question(OTHER[0])) == 1.0


def test_another_question_encoder_gets_no_model(
    tmp_path: Path, mini_corpus: Corpus, embedder: Embedder
) -> None:
    base = Embedder(embedder.model, embedder.document_model_id)  # no adapter: other question vectors
    corpus = mini_corpus.subset(lambda a: a.short_law == "人民调解法" and a.number <= 5)
    build_index(corpus, base, tmp_path / "index", query_pool=("调解协议算数吗",))
    retriever = load_retriever(tmp_path / "index", corpus, base)
    assert retriever.on_topic is None
    assert retriever.legal_probability(OTHER[0], retriever.embed_question(OTHER[0])) == 1.0
