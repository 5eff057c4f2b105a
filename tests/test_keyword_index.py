from __future__ import annotations

from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi

from indexing.keyword_index import KeywordIndex, index_terms, tokenize

DOCS = [
    "借款人应当按照约定的期限返还借款。",
    "成年子女对父母负有赡养、扶助和保护的义务。成年子女不履行赡养义务的，缺乏劳动能力或者生活困难的父母，有要求成年子女给付赡养费的权利。",
    "饲养的动物造成他人损害的，动物饲养人或者管理人应当承担侵权责任。",
    "宅基地使用权人依法对集体所有的土地享有占有和使用的权利。",
]


def test_legal_terms_stay_whole_and_stop_words_go() -> None:
    tokens = tokenize("请问一下，我爸不给赡养费，宅基地使用权怎么办？")
    assert "赡养费" in tokens and "宅基地使用权" in tokens
    assert not {"请问", "一下", "怎么办", "，", "？", "我"} & set(tokens)


def test_scores_match_rank_bm25_called_directly() -> None:
    index = KeywordIndex.build(DOCS)
    oracle = BM25Okapi([index_terms(d) for d in DOCS])
    for query in ["借的钱到期不还", "儿子不给赡养费", "狗咬人谁负责", "宅基地"]:
        np.testing.assert_allclose(index.scores(query), oracle.get_scores(index_terms(query)))


def test_index_terms_add_bigrams_of_chinese_runs_only() -> None:
    terms = index_terms("借钱abc不还")
    assert {"借钱", "钱a", "不还"} & set(terms) == {"借钱", "不还"}
    assert "钱a" not in terms and "c不" not in terms


def test_best_row_for_everyday_questions() -> None:
    index = KeywordIndex.build(DOCS)
    assert int(np.argmax(index.scores("儿子不给赡养费"))) == 1
    assert int(np.argmax(index.scores("饲养的狗把人咬了"))) == 2


def test_query_without_indexed_tokens_scores_zero() -> None:
    index = KeywordIndex.build(DOCS)
    assert not index.scores("").any()
    assert not index.scores("？？？ 了吗").any()
    assert len(KeywordIndex([]).scores("借款")) == 0


def test_save_load_round_trip(tmp_path: Path) -> None:
    index = KeywordIndex.build(DOCS)
    index.save(tmp_path / "k.json")
    loaded = KeywordIndex.load(tmp_path / "k.json")
    np.testing.assert_array_equal(loaded.scores("赡养费"), index.scores("赡养费"))
