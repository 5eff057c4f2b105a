"""Wiring from settings: the question encoder follows PUFA_QUERY_ENCODER and PUFA_ENCODER_THREADS, and
answering alone loads the token table without the model when it can."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answers.cards import cards
from bot.search.pipeline import bank_questions, build, open_corpus, open_embedder, open_question_side
from bot.settings import Settings
from indexing.embedder import Embedder, QuestionEmbedder
from knowledge import sources
from knowledge.corpus import Corpus, load_corpus
from knowledge.sources import SourceError, StatusOverride


@pytest.mark.parametrize(
    ("setting", "backend"),
    [("auto", "static"), ("onnx", "onnx"), ("sentence-transformers", "sentence-transformers")],
)
def test_the_query_encoder_setting_chooses_the_backend(
    setting: str, backend: str, model_cache_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "models").symlink_to(model_cache_dir)  # the session's converted model and ONNX export
    settings = Settings(_env_file=None, data_dir=tmp_path, query_encoder=setting)  # type: ignore[call-arg]
    embedder = open_embedder(settings)
    assert embedder.query_backend == backend
    assert embedder.encode_query("邻居借钱不还怎么办").shape == (embedder.dim,)


def test_an_unknown_query_encoder_is_refused() -> None:
    with pytest.raises(ValueError, match="query_encoder"):
        Settings(_env_file=None, query_encoder="gpu")  # type: ignore[call-arg]


def test_encoder_threads_set_how_many_questions_are_encoded_at_once(
    model_cache_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "models").symlink_to(model_cache_dir)
    settings = Settings(_env_file=None, data_dir=tmp_path, encoder_threads=3,
                        query_encoder="onnx")  # type: ignore[call-arg]  # the token table needs no threads
    assert open_embedder(settings).query_workers == 3
    with pytest.raises(ValueError, match="encoder_threads"):
        Settings(_env_file=None, encoder_threads=0)  # type: ignore[call-arg]


QUESTIONS = ("邻居借钱不还怎么办", "我爸妈老了，哥哥不给养老钱怎么办", "狗咬伤了人谁负责",
             "ｗｅｃｈａｔ１２３")  # fmt: skip


def test_answering_needs_only_the_token_table(
    embedder: Embedder, model_cache_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "models").symlink_to(model_cache_dir)
    side = open_question_side(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    assert isinstance(side, QuestionEmbedder) and side.query_backend == "static"
    assert side.model_id == embedder.model_id  # so it opens the same index
    for question in QUESTIONS:
        assert side.encode_query(question).tolist() == embedder.encode_query(question).tolist()


@pytest.mark.parametrize("setting", [{"query_encoder": "onnx"}, {"query_adapter": False}])
def test_other_question_encoders_need_the_whole_model(
    setting: dict[str, object], model_cache_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "models").symlink_to(model_cache_dir)
    side = open_question_side(Settings(_env_file=None, data_dir=tmp_path, **setting))  # type: ignore[arg-type]
    assert isinstance(side, Embedder) and side.query_backend == "onnx"


def test_build_fails_on_a_status_override_the_source_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pufa build` refuses a stale knowledge/data/status_overrides.json before embedding anything."""
    stale = StatusOverride("000000000000", "中华人民共和国乡村振兴法", "2021-04-29", "现行有效", "test")
    monkeypatch.setattr(sources, "load_status_overrides", lambda: (stale,))
    settings = Settings(_env_file=None, data_dir=tmp_path, laws=("中华人民共和国人民调解法",))  # type: ignore[call-arg]
    with pytest.raises(SourceError, match="乡村振兴法.*000000000000"):
        build(settings)
    assert not settings.index_dir.exists()


def test_a_misspelt_law_fails_with_the_closest_names(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, laws=("民法典", "劳动和同法"))  # type: ignore[call-arg]
    with pytest.raises(SourceError, match="劳动和同法.*中华人民共和国劳动合同法"):
        open_corpus(settings)


def test_the_bank_holds_the_cards_phrasings_for_their_first_article(full_corpus: Corpus) -> None:
    held = bank_questions(full_corpus)
    phrasings = [q for q in held if q.card]
    card = next(c for c in cards() if c.id == "gongqian-baogongtou")
    pairs = {(q.question, q.article_key) for q in phrasings}
    assert {(text, "中华人民共和国民法典:579") for text in card.texts} <= pairs
    assert not any(q.real for q in phrasings)
    # A corpus that cannot quote a card in full holds none of its phrasings.
    mediation = load_corpus(["中华人民共和国人民调解法"])
    assert not {q.question for q in bank_questions(mediation) if q.card} & set(card.texts)
