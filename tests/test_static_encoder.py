"""The token-table question encoder: close to the model it was distilled from, robust to any text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexing.embedder import Embedder, EmbedderConfigError
from indexing.query_adapter import default_adapter_dir
from indexing.static_encoder import (
    StaticQueryEncoder,
    StaticTableError,
    TokenTable,
    default_table_dir,
    plain_tokenizer,
    read_manifest,
)

QUESTIONS = [
    "邻居借了我五千块钱一直不还怎么办",
    "我爸妈老了，哥哥不给养老钱怎么办",
    "村里要收回我家的承包地，合法吗",
    "离婚了孩子归谁",
    "宅基地被邻居占了一米",
]


def test_the_shipped_table_was_distilled_from_the_shipped_question_side(
    embedder: Embedder, onnx_embedder: Embedder
) -> None:
    manifest = read_manifest(default_table_dir())
    assert manifest is not None and manifest["teacher"] == onnx_embedder.model_id
    assert embedder.query_backend == "static"
    assert embedder.model_id.startswith(onnx_embedder.model_id + "+static@")


def test_questions_land_near_where_the_teacher_puts_them(embedder: Embedder) -> None:
    ours = embedder.encode_queries(QUESTIONS)
    teacher = embedder.encode_queries(QUESTIONS, reference=True)
    assert ours.shape == (len(QUESTIONS), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * teacher, axis=1)
    assert cosines.min() > 0.8, cosines  # 0.895 on average over texts kept out of its training
    # Each question is still nearer its own teacher vector than any other question's.
    assert list((ours @ teacher.T).argmax(axis=1)) == list(range(len(QUESTIONS)))


def test_one_question_alone_equals_the_same_question_in_a_batch(embedder: Embedder) -> None:
    np.testing.assert_allclose(embedder.encode_query(QUESTIONS[1]), embedder.encode_queries(QUESTIONS)[1],
                               atol=1e-6)  # fmt: skip


@pytest.mark.parametrize("text", ["", "   ", "🙏🙏🙏", "\u200b\u202e", "zzqxv", "x" * 5000, "借" * 3000])
def test_any_text_gives_a_finite_unit_vector(embedder: Embedder, text: str) -> None:
    vector = embedder.encode_query(text)
    assert vector.shape == (384,) and np.all(np.isfinite(vector))
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_the_table_keeps_its_vectors_through_saving(tmp_path: Path, embedder: Embedder) -> None:
    rng = np.random.default_rng(0)
    vectors, bias = rng.normal(size=(3, 8)).astype(np.float32), rng.normal(size=8).astype(np.float32)
    table = TokenTable(np.array([5, 9, 700]), vectors, np.array([0.5, 1.0, 2.0], np.float32), bias)
    table.save(tmp_path, {"teacher": "x"})
    loaded = TokenTable.load(tmp_path)
    np.testing.assert_array_equal(loaded.token_ids, table.token_ids)
    norms = np.linalg.norm(loaded.vectors, axis=1) * np.linalg.norm(table.vectors, axis=1)
    assert np.all(np.sum(loaded.vectors * table.vectors, axis=1) / norms > 0.999)  # int8 rows, a scale each
    np.testing.assert_allclose(loaded.weights, table.weights)
    np.testing.assert_allclose(loaded.bias, table.bias)
    assert read_manifest(tmp_path) == {"teacher": "x"}
    tokenizer = embedder.query_model.tokenizer.backend_tokenizer
    encoder = StaticQueryEncoder(loaded, plain_tokenizer(tokenizer))
    assert encoder.encode(["hello"]).shape == (1, 8)


def test_a_missing_or_broken_table_is_named(tmp_path: Path) -> None:
    with pytest.raises(StaticTableError, match="cannot read the token table"):
        TokenTable.load(tmp_path)
    np.savez(tmp_path / "table.npz", token_ids=np.arange(3), vectors=np.zeros((2, 4), np.int8),
             scales=np.ones(2, np.float32), weights=np.ones(3, np.float32),
             bias=np.zeros(4, np.float32))  # fmt: skip
    with pytest.raises(StaticTableError, match="inconsistent shapes"):
        TokenTable.load(tmp_path)


def test_a_table_of_another_model_is_not_used(tmp_path: Path, model_cache_dir: Path) -> None:
    TokenTable(np.array([5]), np.ones((1, 384), np.float32), np.ones(1, np.float32),
               np.zeros(384, np.float32)).save(tmp_path, {"teacher": "some-other-model"})  # fmt: skip
    adapter = default_adapter_dir()
    fallback = Embedder.load(None, model_cache_dir, query_adapter=adapter, static_table=tmp_path)
    assert fallback.query_backend == "onnx"
    with pytest.raises(EmbedderConfigError, match="no token table distilled from"):
        Embedder.load(None, model_cache_dir, query_adapter=adapter, static_table=tmp_path,
                      query_backend="static")  # fmt: skip
