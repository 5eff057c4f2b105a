"""The question adapter: merged into a copy of the model for questions only, trained on the team's pairs."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from indexing.embedder import Embedder
from indexing.evaluation import load_questions
from indexing.query_adapter import ADAPTER_FILES, adapter_id, default_adapter_dir, with_adapter
from knowledge.corpus import Corpus

REPO = Path(__file__).resolve().parents[1]
PAIRS = REPO / "indexing" / "data" / "training_questions.jsonl"
DEV = REPO / "tests" / "data" / "dev_questions.jsonl"
VILLAGE_DEV = REPO / "tests" / "data" / "dev_questions_village_laws.jsonl"
QUESTIONS = ["俺爹老了，哥不给养老钱咋办", "邻居借了五千块钱一直不还", "宅基地被隔壁占了一米"]
PASSAGES = [  # the one that answers each question, in the same order
    "成年子女对父母负有赡养、扶助和保护的义务。",
    "借款人应当按照约定的期限返还借款。",
    "宅基地使用权人依法对集体所有的土地享有占有和使用的权利。",
]


def _pairs() -> list[dict[str, object]]:
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]


def _bigrams(text: str) -> set[str]:
    kept = "".join(ch for ch in text if ch.isalnum())
    return {kept[i : i + 2] for i in range(len(kept) - 1)}


def test_the_adapter_moves_questions_and_leaves_documents_to_the_base_model(embedder: Embedder) -> None:
    prompted = ["query: " + q for q in QUESTIONS]
    base = embedder.model.encode(prompted, normalize_embeddings=True)
    adapted = embedder.query_model.encode(prompted, normalize_embeddings=True)
    assert np.sum(base * adapted, axis=1).max() < 0.99  # the question side has moved
    np.testing.assert_allclose(embedder.encode_queries(QUESTIONS, reference=True), adapted, atol=1e-5)
    documents = embedder.model.encode(["passage: " + p for p in PASSAGES], normalize_embeddings=True)
    np.testing.assert_allclose(embedder.encode_documents(PASSAGES), documents, atol=1e-5)
    # ...and still finds each question's own passage among the others.
    assert list(np.argmax(adapted @ documents.T, axis=1)) == list(range(len(QUESTIONS)))


def test_the_copy_shares_the_token_embeddings_and_the_base_keeps_its_weights(embedder: Embedder) -> None:
    base, adapted = embedder.model[0].auto_model, embedder.query_model[0].auto_model
    assert adapted.embeddings is base.embeddings
    layer = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(adapted.state_dict()[layer], base.state_dict()[layer])
    assert not [name for name, _ in adapted.named_parameters() if "lora" in name]  # merged, not wrapped
    assert not [name for name, _ in base.named_parameters() if "lora" in name]


def test_the_adapter_id_follows_its_files(tmp_path: Path) -> None:
    shipped = default_adapter_dir()
    copy = tmp_path / "adapter"
    copy.mkdir()
    for name in ADAPTER_FILES:
        shutil.copy(shipped / name, copy / name)
    assert adapter_id(copy) == adapter_id(shipped)
    config = copy / "adapter_config.json"
    config.write_text(config.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert adapter_id(copy) != adapter_id(shipped)


def test_a_directory_without_the_adapter_files_is_refused(embedder: Embedder, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="adapter_config.json, adapter_model.safetensors"):
        with_adapter(embedder.model, tmp_path)


def test_the_shipped_adapter_was_trained_on_the_shipped_pairs_and_the_tuning_split_only() -> None:
    """On the file's first `pairs_lines` lines: questions appended since are in the question bank only."""
    provenance = json.loads((default_adapter_dir() / "training.json").read_text(encoding="utf-8"))
    trained_on = PAIRS.read_bytes().splitlines(keepends=True)[: provenance["pairs_lines"]]
    assert provenance["pairs_sha256"] == hashlib.sha256(b"".join(trained_on)).hexdigest()
    assert provenance["pairs"] == provenance["pairs_lines"] <= len(_pairs())
    assert provenance["chosen_on"] == "split=tune"
    assert "heldout" not in json.dumps(provenance)


def test_training_pairs_name_real_articles_and_do_not_repeat(township_corpus: Corpus) -> None:
    """Pairs name articles of the township corpus (the three laws and the laws of village life)."""
    pairs = _pairs()
    assert len(pairs) >= 2000
    assert len({p["question"] for p in pairs}) == len(pairs)
    for pair in pairs:
        assert set(pair) == {"law", "article", "question"} and str(pair["question"]).strip()
        assert township_corpus.get(str(pair["law"]), int(pair["article"])) is not None, pair  # type: ignore[call-overload]


def test_no_training_question_is_a_near_copy_of_a_development_question() -> None:
    """The pairs were written for the articles, not from the dev set; near-copies would leak either split."""
    development = [_bigrams(q.query) for path in (DEV, VILLAGE_DEV) for q in load_questions(path)]
    closest = max(
        len(grams & other) / len(grams | other)
        for grams in map(_bigrams, (str(p["question"]) for p in _pairs()))
        for other in development
        if grams | other
    )
    assert closest < 0.35
