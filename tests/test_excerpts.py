from __future__ import annotations

import pytest

from bot.answers.excerpts import SLACK, excerpt
from bot.answers.text import ELLIPSIS
from knowledge.articles import Article
from knowledge.corpus import Corpus


def parts_in_order(text: str, full: str) -> bool:
    position = 0
    for part in filter(None, text.split(ELLIPSIS)):
        found = full.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def test_short_article_is_quoted_whole(mini_corpus: Corpus) -> None:
    article = mini_corpus.get("民法典", 675)
    assert article is not None
    assert excerpt(article, "借钱不还", 200) == article.text


def test_the_paragraph_that_matches_the_question_is_kept(mini_corpus: Corpus) -> None:
    article = mini_corpus.get("民法典", 1130)  # five 款, the third about who may get more
    assert article is not None
    text = excerpt(article, "照顾老人多的子女能多分遗产吗，尽了主要扶养义务", 60)
    assert article.paragraphs[2] in text
    assert article.paragraphs[0] not in text
    assert text.startswith(ELLIPSIS) and len(text) < len(article.text)
    assert parts_in_order(text, article.text)


def test_one_long_paragraph_is_cut_by_sentences() -> None:
    sentences = ["甲应当如此。", "乙可以那样。", "丙不得擅自砍伐村口的古树。", "丁另行规定。"]
    article = Article("青山村村规民约", 9, ("".join(sentences),), kind="local")
    text = excerpt(article, "村口古树能砍吗", 16)
    assert sentences[2] in text and sentences[0] not in text
    assert text == f"{ELLIPSIS}{sentences[2]}{ELLIPSIS}"


def test_a_sentence_longer_than_the_budget_is_cut_hard() -> None:
    article = Article("青山村村规民约", 10, ("很" * 300 + "。",), kind="local")
    text = excerpt(article, "很", 50)
    assert text == "很" * 50 + ELLIPSIS


@pytest.mark.parametrize("budget", [40, 120])
def test_every_excerpt_of_the_corpus_is_verbatim_and_bounded(full_corpus: Corpus, budget: int) -> None:
    for article in full_corpus.articles:
        text = excerpt(article, "邻居借钱不还，宅基地被占了怎么办", budget)
        assert parts_in_order(text, article.text), article.key
        assert len(text.replace(ELLIPSIS, "")) <= budget + SLACK, article.key
