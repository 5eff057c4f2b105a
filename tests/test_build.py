"""Index build and load: manifest, atomic replacement, incremental re-embedding, refusal of mismatches."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexing.build import (
    MANIFEST,
    PENALTIES,
    IndexMismatchError,
    IndexMissingError,
    Manifest,
    build_index,
    load_retriever,
)
from indexing.embedder import Embedder
from indexing.onnx_encoder import OnnxQueryEncoder
from indexing.query import expand_question
from indexing.question_bank import QuestionBank, WrittenQuestion
from knowledge.chunking import chunk_articles
from knowledge.corpus import Corpus
from knowledge.local_docs import read_local_doc

POOL = ("邻居借钱不还", "老人没人养", "调解协议算数吗")
MEDIATION = "中华人民共和国人民调解法"
RULES_LAW = "东山村村规民约"
RULES = f"""{RULES_LAW}
第一条 村民应当遵守法律法规，爱护公共财产。
第二条 村民饲养的家禽家畜应当圈养，不得放养损害他人庄稼。
第三条 红白喜事提倡节俭，彩礼不超过三万元。
"""
WRITTEN = (
    WrittenQuestion("村里调解要交钱不", f"{MEDIATION}:4"),
    WrittenQuestion("村里的调解委员会是个啥组织", f"{MEDIATION}:7"),
    WrittenQuestion("借钱不还咋办", "中华人民共和国民法典:675"),  # not in the small corpus
)


class CountingPlain:
    """The plain encoder, counting the questions it encodes."""

    def __init__(self, inner: OnnxQueryEncoder) -> None:
        self.inner = inner
        self.questions = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.questions += len(texts)
        return self.inner.encode(texts)


class CountingEmbedder:
    """The real embedder, counting how many documents it is asked to embed (and able to fail)."""

    def __init__(self, inner: Embedder, *, model_id: str | None = None, fail_after: int | None = None) -> None:
        self.inner = inner
        self.model_id = model_id or inner.model_id
        self.document_model_id = model_id or inner.document_model_id
        self.dim = inner.dim
        self.documents = 0
        self.questions = 0  # texts through the question encoder (not the reference model)
        self.fail_after = fail_after

    def encode_documents(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if self.fail_after is not None and self.documents >= self.fail_after:
            raise RuntimeError("embedding crashed")
        self.documents += len(texts)
        return self.inner.encode_documents(texts, batch_size=batch_size)

    def encode_queries(self, texts: Sequence[str], *, reference: bool = False) -> np.ndarray:
        self.questions += 0 if reference else len(texts)
        return self.inner.encode_queries(texts, reference=reference)

    def encode_query(self, text: str) -> np.ndarray:
        return self.inner.encode_query(text)


def small_corpus_of(corpus: Corpus) -> Corpus:
    return corpus.subset(lambda a: a.short_law == "人民调解法" and a.number <= 12)


@pytest.fixture(scope="module")
def small_corpus(mini_corpus: Corpus) -> Corpus:
    return small_corpus_of(mini_corpus)


def _edited(corpus: Corpus, number: int) -> Corpus:
    articles = tuple(
        dataclasses.replace(a, paragraphs=(*a.paragraphs, "（测试用的修改）")) if a.number == number else a
        for a in corpus.articles
    )
    return Corpus(articles, corpus.source_sha256)


def test_build_writes_a_manifest_that_describes_the_index(tmp_path: Path, small_corpus: Corpus,
                                                          embedder: Embedder) -> None:
    manifest = build_index(small_corpus, embedder, tmp_path / "index", query_pool=POOL)
    assert Manifest.read(tmp_path / "index") == manifest
    chunks = chunk_articles(small_corpus.articles)
    assert manifest.chunk_ids == tuple(c.id for c in chunks)
    assert manifest.chunk_hashes == tuple(c.content_hash for c in chunks)
    assert manifest.model_id == embedder.model_id and manifest.dim == embedder.dim
    assert manifest.corpus_checksum == small_corpus.checksum and manifest.reused_vectors == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"], "no temporary directory may be left"
    retriever = load_retriever(tmp_path / "index", small_corpus, embedder)
    assert retriever.search("调解协议有没有法律效力", k=3)


def test_rebuild_re_embeds_only_changed_chunks(tmp_path: Path, small_corpus: Corpus, embedder: Embedder) -> None:
    out = tmp_path / "index"
    first = CountingEmbedder(embedder)
    build_index(small_corpus, first, out, query_pool=POOL)
    assert first.documents == len(chunk_articles(small_corpus.articles))

    again = CountingEmbedder(embedder)
    assert build_index(small_corpus, again, out, query_pool=POOL).reused_vectors == first.documents
    assert again.documents == 0

    edited = _edited(small_corpus, 5)
    before = {c.content_hash for c in chunk_articles(small_corpus.articles)}
    after = chunk_articles(edited.articles)
    changed = sum(c.content_hash not in before for c in after)
    assert 1 <= changed < first.documents  # the edited article's part, and its new sentence chunk if any
    third = CountingEmbedder(embedder)
    manifest = build_index(edited, third, out, query_pool=POOL)
    assert third.documents == changed and manifest.reused_vectors == len(after) - changed
    fresh = embedder.encode_documents([c.text for c in after])
    np.testing.assert_allclose(np.load(out / "vectors.npy"), fresh, atol=1e-5)


def test_a_new_question_adapter_rebuilds_the_index_without_re_embedding_documents(
    tmp_path: Path, small_corpus: Corpus, embedder: Embedder
) -> None:
    out = tmp_path / "index"
    base = Embedder(embedder.model, embedder.document_model_id)  # questions through the base model
    build_index(small_corpus, base, out, query_pool=POOL)
    base_penalties = np.load(out / PENALTIES)
    with pytest.raises(IndexMismatchError, match="embedding model"):
        load_retriever(out, small_corpus, embedder)  # its hubness penalties came from other question vectors
    adapted = CountingEmbedder(embedder)
    manifest = build_index(small_corpus, adapted, out, query_pool=POOL)
    assert adapted.documents == 0 and manifest.reused_vectors == len(manifest.chunk_ids)
    assert manifest.model_id == embedder.model_id != base.model_id
    assert manifest.document_model_id == base.model_id
    assert not np.allclose(np.load(out / PENALTIES), base_penalties)
    assert load_retriever(out, small_corpus, embedder).search("调解", k=1)


def test_a_crash_during_build_leaves_the_old_index_usable(tmp_path: Path, small_corpus: Corpus,
                                                          embedder: Embedder) -> None:
    out = tmp_path / "index"
    build_index(small_corpus, embedder, out, query_pool=POOL)
    before = (out / MANIFEST).read_text(encoding="utf-8")
    with pytest.raises(RuntimeError, match="embedding crashed"):
        build_index(_edited(small_corpus, 3), CountingEmbedder(embedder, fail_after=0), out, query_pool=POOL)
    assert (out / MANIFEST).read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]
    assert load_retriever(out, small_corpus, embedder).search("调解", k=1)


def test_loading_refuses_another_model_or_corpus(tmp_path: Path, small_corpus: Corpus, embedder: Embedder) -> None:
    out = tmp_path / "index"
    build_index(small_corpus, embedder, out, query_pool=POOL)
    with pytest.raises(IndexMismatchError, match="embedding model.*pufa build"):
        load_retriever(out, small_corpus, CountingEmbedder(embedder, model_id="other-model"))  # type: ignore[arg-type]
    with pytest.raises(IndexMismatchError, match="corpus checksum.*pufa build"):
        load_retriever(out, _edited(small_corpus, 2), embedder)


def test_loading_a_missing_index_says_how_to_build_it(tmp_path: Path, small_corpus: Corpus,
                                                      embedder: Embedder) -> None:
    with pytest.raises(IndexMissingError, match="pufa build"):
        load_retriever(tmp_path / "nothing", small_corpus, embedder)


def test_hubness_penalties_come_from_the_query_pool(tmp_path: Path, small_corpus: Corpus,
                                                    embedder: Embedder) -> None:
    build_index(small_corpus, embedder, tmp_path / "a", query_pool=POOL)
    build_index(small_corpus, embedder, tmp_path / "b", query_pool=())
    with_pool = np.load(tmp_path / "a" / "hub_penalties.npy")
    vectors = np.load(tmp_path / "a" / "vectors.npy")
    expected = (vectors @ embedder.encode_queries(list(POOL), reference=True).T).mean(axis=1)
    # k ≥ pool size: the mean; pool questions go through the float model
    np.testing.assert_allclose(with_pool, expected, atol=1e-5)
    assert not np.load(tmp_path / "b" / "hub_penalties.npy").any()


def test_the_question_bank_holds_the_written_questions_of_the_indexed_articles(
    tmp_path: Path, small_corpus: Corpus, embedder: Embedder
) -> None:
    manifest = build_index(small_corpus, embedder, tmp_path / "index", query_pool=POOL, questions=WRITTEN)
    bank = QuestionBank.load(tmp_path / "index")
    assert bank.keys == (WRITTEN[0].article_key, WRITTEN[1].article_key)
    assert bank.texts == tuple(expand_question(q.question) for q in WRITTEN[:2])  # as asked questions are
    expected = embedder.encode_queries(list(bank.texts))
    assert np.all(np.sum(bank.vectors * expected, axis=1) > 0.999)
    assert manifest.questions_sha256
    retriever = load_retriever(tmp_path / "index", small_corpus, embedder, questions=WRITTEN)
    assert retriever.search("调解收不收费", k=1, mode="bank")[0].article.key == WRITTEN[0].article_key


def test_a_rebuild_encodes_only_new_written_questions(tmp_path: Path, small_corpus: Corpus, embedder: Embedder,
                                                      plain_encoder: OnnxQueryEncoder) -> None:  # fmt: skip
    out = tmp_path / "index"
    first, first_plain = CountingEmbedder(embedder), CountingPlain(plain_encoder)
    build_index(small_corpus, first, out, query_pool=POOL, questions=WRITTEN[:1], plain=first_plain)
    assert first.questions == first_plain.questions == 1
    again, again_plain = CountingEmbedder(embedder), CountingPlain(plain_encoder)
    build_index(small_corpus, again, out, query_pool=POOL, questions=WRITTEN, plain=again_plain)
    assert again.questions == again_plain.questions == 1  # WRITTEN[1]; WRITTEN[2]'s article is not indexed
    assert len(QuestionBank.load(out)) == 2


def test_the_bank_keeps_its_questions_as_asked_through_the_plain_encoder(
    tmp_path: Path, small_corpus: Corpus, embedder: Embedder, plain_encoder: OnnxQueryEncoder
) -> None:
    """The plain encoder reads a question as typed, so the bank's plain vectors are of the questions as
    asked, not of their lexicon expansion (`indexing.bank_plain`); without it the bank keeps none."""
    build_index(small_corpus, embedder, tmp_path / "index", query_pool=POOL, questions=WRITTEN, plain=plain_encoder)
    bank = QuestionBank.load(tmp_path / "index")
    assert bank.plain_vectors is not None
    np.testing.assert_allclose(bank.plain_vectors, plain_encoder.encode([q.question for q in WRITTEN[:2]]),
                               atol=1e-5)  # fmt: skip
    assert bank.texts[0] != WRITTEN[0].question  # the question side's text is expanded; the plain one not
    build_index(small_corpus, embedder, tmp_path / "bare", query_pool=POOL, questions=WRITTEN)
    assert QuestionBank.load(tmp_path / "bare").plain is None


def test_an_index_built_from_other_written_questions_is_refused(tmp_path: Path, small_corpus: Corpus,
                                                                embedder: Embedder) -> None:
    out = tmp_path / "index"
    build_index(small_corpus, embedder, out, query_pool=POOL, questions=WRITTEN[:1])
    with pytest.raises(IndexMismatchError, match="written questions.*pufa build"):
        load_retriever(out, small_corpus, embedder, questions=WRITTEN)


def test_a_law_without_written_questions_is_in_the_bank_through_its_articles_texts(
    tmp_path: Path, mini_corpus: Corpus, embedder: Embedder
) -> None:
    """A 村规民约 has no written questions: its articles stand in for them, so the bank knows the law."""
    (tmp_path / "rules.txt").write_text(RULES, encoding="utf-8")
    rules = read_local_doc(tmp_path / "rules.txt")
    corpus = Corpus((*small_corpus_of(mini_corpus).articles, *rules), mini_corpus.source_sha256)
    build_index(corpus, embedder, tmp_path / "index", query_pool=POOL, questions=WRITTEN)
    bank = QuestionBank.load(tmp_path / "index")
    assert bank.keys == (WRITTEN[0].article_key, WRITTEN[1].article_key, *(a.key for a in rules))
    assert bank.texts[2:] == tuple(expand_question("".join(a.paragraphs)) for a in rules)
    retriever = load_retriever(tmp_path / "index", corpus, embedder, questions=WRITTEN)
    hits = retriever.search("村里对红白喜事的彩礼有没有规定", k=3)
    assert f"{RULES_LAW}:3" in [h.article.key for h in hits]
