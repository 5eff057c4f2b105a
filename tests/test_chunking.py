"""knowledge.chunking: one chunk per article, long ones split by 款 with the header repeated, and the
sentences of longer articles as chunks of their own."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knowledge import Article, Chunk, Corpus, chunk_articles
from knowledge.chunking import SENTENCE_MIN_CHARS, chunk_article, sentence_chunks


def _bodies(chunks: list[Chunk]) -> list[str]:
    return [c.text.split("\n", 1)[1] for c in chunks]


def test_short_article_is_one_chunk(mini_corpus: Corpus) -> None:
    article = mini_corpus.get("民法典", 1079)
    [chunk] = chunk_article(article)
    assert chunk.id == "民法典:1079#0" and chunk.part == 0
    assert chunk.text == "民法典 第五编 婚姻家庭 第四章 离婚 第一千零七十九条\n" + article.text
    assert (chunk.law, chunk.article, chunk.citation, chunk.path) == (
        article.law,
        1079,
        "《中华人民共和国民法典》第一千零七十九条",
        article.path,
    )
    assert chunk.article_key == article.key


def test_mini_chunks_cover_every_article_once(mini_corpus: Corpus, mini_chunks: list[Chunk]) -> None:
    first_parts = [c.article_key for c in mini_chunks if c.part == 0 and not c.is_sentence]
    assert first_parts == [a.key for a in mini_corpus.articles]
    assert len({c.id for c in mini_chunks}) == len(mini_chunks)


def test_long_article_is_split_with_header_repeated(mini_corpus: Corpus) -> None:
    article = mini_corpus.get("宪法", 67)  # about 900 characters, one 款 with 22 项
    assert len(article.header) + 1 + len(article.text) > 600
    chunks = chunk_article(article, max_chars=600)
    assert [c.part for c in chunks] == list(range(len(chunks))) and len(chunks) > 1
    assert [c.id for c in chunks] == [f"宪法:67#{i}" for i in range(len(chunks))]
    assert all(len(c.text) <= 600 and c.text.startswith(article.header + "\n") for c in chunks)
    assert "".join(_bodies(chunks)).replace("\n", "") == article.text.replace("\n", "")


def test_split_keeps_whole_paragraphs_when_they_fit(mini_corpus: Corpus) -> None:
    article = mini_corpus.get("民法典", 1079)
    chunks = chunk_article(article, max_chars=len(article.header) + 1 + 160)
    assert len(chunks) > 1
    parts = [body.split("\n") for body in _bodies(chunks)]
    rebuilt = [line for part in parts for line in part]
    assert rebuilt == article.text.split("\n")
    # No 款 is cut: every part is a run of whole 款.
    paragraphs = list(article.paragraphs)
    for body in _bodies(chunks):
        taken = []
        while paragraphs and body.startswith("\n".join([*taken, paragraphs[0]])):
            taken.append(paragraphs.pop(0))
        assert "\n".join(taken) == body


def test_single_long_paragraph_is_cut_at_sentence_ends() -> None:
    sentences = [
        f"第{i}句话写得比较长一些，用来测试切分。" if i % 2 else f"分句{i}在这里；" for i in range(40)
    ]
    article = Article("某村村规民约", 3, ("".join(sentences),), kind="local")
    chunks = chunk_article(article, max_chars=120)
    bodies = _bodies(chunks)
    assert len(chunks) > 1 and all(len(c.text) <= 120 for c in chunks)
    assert all(body.endswith(("。", "；")) for body in bodies)
    assert "".join(bodies) == article.text


def test_unpunctuated_text_is_still_bounded() -> None:
    article = Article("某村村规民约", 1, ("无标点" * 200,), kind="local")
    chunks = chunk_article(article, max_chars=100)
    assert all(len(c.text) <= 100 for c in chunks)
    assert "".join(_bodies(chunks)) == article.text


def test_max_chars_too_small_for_header_is_refused(mini_corpus: Corpus) -> None:
    with pytest.raises(ValueError, match="max_chars=30"):
        chunk_article(mini_corpus.get("民法典", 1079), max_chars=30)


def test_full_corpus_chunks_fit(full_corpus: Corpus) -> None:
    chunks = chunk_articles(full_corpus.articles)
    assert all(len(c.text) <= 600 for c in chunks)
    assert len({c.id for c in chunks}) == len(chunks)
    split = {c.article_key for c in chunks if c.part > 0}
    long = {a.key for a in full_corpus.articles if len(a.header) + 1 + len(a.text) > 600}
    assert split == long and len(chunks) >= len(full_corpus.articles) + len(split)


def test_content_hash_follows_text(mini_chunks: list[Chunk]) -> None:
    chunk = mini_chunks[0]
    assert chunk.content_hash == dataclasses.replace(chunk).content_hash
    assert chunk.content_hash != dataclasses.replace(chunk, text=chunk.text + "。").content_hash


_sentence = st.text(alphabet="甲乙丙丁戊己庚辛（）一二", min_size=1, max_size=80).map(lambda s: s + "。")


@given(paragraphs=st.lists(st.lists(_sentence, min_size=1, max_size=8).map("".join), min_size=1, max_size=8))
def test_packing_invariants(paragraphs: list[str]) -> None:
    article = Article("某村村规民约", 7, tuple(paragraphs), kind="local")
    chunks = chunk_article(article, max_chars=150)
    assert all(len(c.text) <= 150 for c in chunks)
    assert "".join(_bodies(chunks)).replace("\n", "") == "".join(paragraphs)


def test_sentences_of_an_article_are_chunks_under_its_header(mini_corpus: Corpus) -> None:
    article = mini_corpus.get("民法典", 1079)
    chunks = sentence_chunks(article)
    assert len(chunks) > 2 and [c.sentence for c in chunks] == list(range(len(chunks)))
    assert [c.id for c in chunks] == [f"民法典:1079#s{n}" for n in range(len(chunks))]
    assert all(c.is_sentence and c.article_key == article.key and c.text.startswith(article.header + "\n")
               for c in chunks)  # fmt: skip
    assert "".join(_bodies(chunks)).replace("\n", "") == article.text.replace("\n", "")
    parts = chunk_article(article)
    assert not any(c.is_sentence for c in parts)
    assert chunk_articles([article]) == [*parts, *chunks]


def test_short_sentences_join_the_next_and_one_sentence_articles_get_none() -> None:
    paragraphs = ("有下列情形之一的：", "（一）乱倒垃圾，影响邻居通行的；", "（二）私搭乱建。")
    article = Article("某村村规民约", 2, paragraphs, kind="local")
    bodies = _bodies(sentence_chunks(article))
    assert bodies == ["有下列情形之一的：（一）乱倒垃圾，影响邻居通行的；", "（二）私搭乱建。"]
    assert sentence_chunks(Article("某村村规民约", 3, ("禁止在河道倾倒垃圾。",), kind="local")) == []


@given(paragraphs=st.lists(st.lists(_sentence, min_size=1, max_size=8).map("".join), min_size=1, max_size=8))
def test_sentence_invariants(paragraphs: list[str]) -> None:
    article = Article("某村村规民约", 7, tuple(paragraphs), kind="local")
    bodies = _bodies(sentence_chunks(article))
    assert bodies == [] or "".join(bodies) == "".join(paragraphs)
    assert all(len(body) >= SENTENCE_MIN_CHARS for body in bodies[:-1])
