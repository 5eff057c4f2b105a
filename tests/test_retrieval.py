from __future__ import annotations

import numpy as np
import pytest

from indexing.keyword_index import tokenize
from indexing.query import expand_question
from indexing.question_bank import NEIGHBOURS, TEMPERATURE
from indexing.rerank import DEPTH
from indexing.retrieval import Retriever, _question_words

CIVIL = "中华人民共和国民法典"


def test_loan_question_finds_the_loan_articles(mini_retriever: Retriever) -> None:
    hits = mini_retriever.search("邻居借了我五千块钱一直不还怎么办", k=3)
    assert f"{CIVIL}:675" in [h.article.key for h in hits]


def test_elderly_support_question(mini_retriever: Retriever) -> None:
    hits = mini_retriever.search("我爸妈老了，哥哥不给养老钱怎么办", k=3)
    assert f"{CIVIL}:1067" in [h.article.key for h in hits]


@pytest.mark.parametrize("question", ["民法典第1079条说的什么", "《民法典》第一千零七十九条", "1079条是啥意思"])
def test_cited_article_comes_first(mini_retriever: Retriever, question: str) -> None:
    first = mini_retriever.search(question, k=5)[0]
    assert first.article.key == f"{CIVIL}:1079"
    assert "direct" in first.retrievers


def test_citation_of_an_article_outside_the_corpus_is_ignored(mini_retriever: Retriever) -> None:
    hits = mini_retriever.search("民法典第1250条", k=5)
    assert all("direct" not in h.retrievers for h in hits)


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense", "bank"])
def test_results_are_distinct_articles_within_k(mini_retriever: Retriever, mode: str) -> None:
    hits = mini_retriever.search("离婚后孩子归谁抚养", k=7, mode=mode)
    keys = [h.article.key for h in hits]
    assert 0 < len(keys) <= 7 and len(set(keys)) == len(keys)
    assert all(h.chunk_id.split("#")[0].endswith(str(h.article.number)) for h in hits)


def test_dense_mode_matches_brute_force(mini_retriever: Retriever) -> None:
    question = "狗把人咬伤了谁赔"
    index = mini_retriever.vectors
    q = mini_retriever.embedder.encode_query(expand_question(question))
    raw = index.vectors @ q
    ranked = raw - index.penalties  # hubness-corrected, as the index ranks
    best: dict[str, int] = {}
    for row in np.argsort(-ranked):
        best.setdefault(mini_retriever.chunks[row].article_key, int(row))
    hits = mini_retriever.search(question, k=5, mode="dense")
    assert [h.article.key for h in hits] == list(best)[:5]
    for h in hits:
        assert h.chunk_id == mini_retriever.chunks[best[h.article.key]].id
        # The confidence scores come from the article's best part, never from a sentence chunk.
        parts = [row for row, c in enumerate(mini_retriever.chunks)
                 if c.article_key == h.article.key and not c.is_sentence]  # fmt: skip
        top = max(parts, key=lambda row: ranked[row])
        assert h.dense_score == pytest.approx(float(raw[top]), abs=1e-5)
        assert h.dense_margin == pytest.approx(float(ranked[top]), abs=1e-5)


def test_bank_mode_weighs_the_nearest_written_questions(mini_retriever: Retriever) -> None:
    """Each article's share of a softmax over the nearest written questions' cosines, recomputed here."""
    question = "借给表哥两万块钱说好麦收就还，现在电话都不接了"
    bank = mini_retriever.bank
    assert bank is not None and len(bank) > 100
    cosines = bank.vectors @ mini_retriever.embedder.encode_query(expand_question(question))
    nearest = np.argsort(-cosines)[:NEIGHBOURS]
    weights = np.exp((cosines[nearest] - cosines[nearest[0]]) / TEMPERATURE)
    shares: dict[str, float] = {}
    for row, weight in zip(nearest, weights / weights.sum(), strict=True):
        shares[bank.keys[row]] = shares.get(bank.keys[row], 0.0) + float(weight)
    hits = mini_retriever.search(question, k=5, mode="bank")
    assert [h.article.key for h in hits] == sorted(shares, key=shares.__getitem__, reverse=True)[:5]
    assert [h.score for h in hits] == pytest.approx(sorted(shares.values(), reverse=True)[:5], abs=1e-5)
    assert all("bank" in h.retrievers for h in hits)
    assert hits[0].article.key in {f"{CIVIL}:{n}" for n in (667, 675, 676)}  # the loan articles


def test_one_sentence_finds_its_article_through_its_sentence_chunk(mini_retriever: Retriever) -> None:
    sentence = next(c for c in mini_retriever.chunks if c.id == "民法典:1079#s2")
    quoted = sentence.text.split("\n", 1)[1]
    [hit] = mini_retriever.search(quoted, k=1, mode="dense")
    assert (hit.article.key, hit.chunk_id) == (f"{CIVIL}:1079", "民法典:1079#s2")


def test_bm25_mode_matches_keyword_scores(mini_retriever: Retriever) -> None:
    question = "儿子不给赡养费"
    scores = mini_retriever.keywords.scores(expand_question(question))
    assert tokenize(question)
    best: dict[str, float] = {}
    for row in np.argsort(-scores):
        if scores[row] > 0:
            best.setdefault(mini_retriever.chunks[row].article_key, float(scores[row]))
    hits = mini_retriever.search(question, k=5, mode="bm25")
    assert [h.article.key for h in hits] == list(best)[:5]


def test_hybrid_hits_carry_both_scores(mini_retriever: Retriever) -> None:
    hits = mini_retriever.search("宅基地被邻居占了", k=5)
    assert hits and all(h.dense_score is not None for h in hits)
    assert any(h.bm25_score for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize("k", [5, 80])  # 80: beyond the cited and the re-ranked, into the fused tail
@pytest.mark.parametrize("mode", ["hybrid", "dense", "bank"])
def test_every_hit_has_a_real_cosine(mini_retriever: Retriever, mode: str, k: int) -> None:
    """Cosines are computed only for the articles that can become hits: none may be left out (NaN)."""
    hits = mini_retriever.search("依照《民法典》第1067条，哥哥不给养老钱怎么办", k=k, mode=mode)
    assert hits
    if k > DEPTH and mode == "hybrid":
        assert len(hits) > DEPTH + 1  # past the cited article and the re-ranked ones
    assert all(h.dense_score is not None and np.isfinite([h.dense_score, h.dense_margin]).all() for h in hits)


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question_finds_nothing(mini_retriever: Retriever, question: str) -> None:
    assert mini_retriever.search(question) == []


def test_odd_unicode_does_not_crash(mini_retriever: Retriever) -> None:
    for question in ["😀😀😀", "\u200b\u200d", "𠀀𠀁龘", "<xml>]]></xml>", "a" * 5000]:
        assert isinstance(mini_retriever.search(question, k=3), list)


def test_unknown_mode_is_refused(mini_retriever: Retriever) -> None:
    with pytest.raises(ValueError, match="Unknown retrieval mode 'fuzzy'"):
        mini_retriever.search("借钱", mode="fuzzy")


QUESTIONS_WITH_FILLER_AND_SPACES = [
    "我爸妈老了，哥哥不给养老钱怎么办",
    "你好，请问邻居借钱不还怎么办",
    "借钱  不还 咋办",
]


@pytest.mark.parametrize("question", QUESTIONS_WITH_FILLER_AND_SPACES)
def test_the_question_is_tokenised_once_as_if_twice(question: str) -> None:
    expanded = expand_question(question)
    typed, words = _question_words(question, expanded)
    assert typed == tokenize(question)
    assert words == tokenize(expanded)


def test_a_message_asking_two_things_gets_articles_for_each(mini_retriever: Retriever) -> None:
    loan, support = "邻居借了我五千块钱一直不还怎么办？", "我爸妈老了，哥哥不给养老钱怎么办？"
    both = [h.article.key for h in mini_retriever.search(loan + support, k=4)]
    whole = [h.article.key for h in mini_retriever.search(loan + support, k=4, split_parts=False)]
    firsts = [mini_retriever.search(part, k=1)[0].article.key for part in (loan, support)]
    assert both[0] == whole[0]  # the whole message's best article first, then each part's
    assert set(firsts) <= set(both[:3])
    assert f"{CIVIL}:675" in both and f"{CIVIL}:1067" in both
    assert len(set(both)) == len(both) == 4


def test_other_modes_search_a_message_whole(mini_retriever: Retriever) -> None:
    message = "邻居借了我五千块钱一直不还怎么办？我爸妈老了，哥哥不给养老钱怎么办？"
    for mode in ("bm25", "dense", "bank"):
        assert [h.article.key for h in mini_retriever.search(message, k=5, mode=mode)] == \
            [h.article.key for h in mini_retriever.search(message, k=5, mode=mode, split_parts=False)]
