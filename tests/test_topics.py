from __future__ import annotations

import pytest

from bot.answers.topics import (
    CATEGORIES,
    OTHER,
    article_category,
    classify,
    classify_articles,
    label,
    subject_phrase,
    topics,
)
from indexing.retrieval import Hit
from knowledge.articles import Article
from knowledge.corpus import Corpus


def test_topic_table_covers_every_category_with_words() -> None:
    table = topics()
    assert tuple(table) == CATEGORIES
    for category, topic in table.items():
        assert topic.label and topic.example
        if category != OTHER:
            assert topic.keywords and topic.paths, category


@pytest.mark.parametrize(
    ("law", "number", "category"),
    [
        ("民法典", 675, "借贷欠款"),  # 第十二章 借款合同, inside 第三编 合同
        ("民法典", 577, "合同买卖"),
        ("民法典", 1079, "婚姻家庭"),
        ("民法典", 1067, "赡养抚养"),  # its 节 is more specific than 第五编 婚姻家庭
        ("民法典", 1127, "继承"),
        ("民法典", 362, "房屋宅基地"),
        ("民法典", 288, "邻里纠纷"),
        ("民法典", 1245, "人身损害赔偿"),
        ("民法典", 1024, "人格权（名誉、隐私）"),
        ("宪法", 33, "宪法与公民权利"),
        ("人民调解法", 31, "调解程序"),
        ("民法典", 188, None),  # 诉讼时效 belongs to no one topic
    ],
)
def test_article_category_comes_from_its_innermost_title(
    mini_corpus: Corpus, law: str, number: int, category: str | None
) -> None:
    article = mini_corpus.get(law, number)
    assert article is not None
    assert article_category(article) == category


@pytest.mark.parametrize("category", [c for c in CATEGORIES if c != OTHER])
def test_each_example_question_is_recognised_by_its_words(category: str) -> None:
    assert classify_articles(topics()[category].example, []) == category


def test_articles_decide_when_words_are_mixed(mini_corpus: Corpus) -> None:
    loan = mini_corpus.get("民法典", 675)
    neighbours = mini_corpus.get("民法典", 288)
    assert loan is not None and neighbours is not None
    hits = [Hit(loan, 1.0, ("dense",), "c"), Hit(neighbours, 0.5, ("bm25",), "c")]
    # 邻居 is a neighbour word, but the best article is about loans and so is 不还.
    assert classify("邻居借的钱不还", hits) == "借贷欠款"
    assert classify("邻居", [Hit(neighbours, 1.0, ("dense",), "c")]) == "邻里纠纷"


def test_nothing_recognisable_is_other() -> None:
    assert classify("今天天气怎么样", []) == OTHER
    assert classify("", []) == OTHER


def test_label_is_plain_words() -> None:
    assert label("借贷欠款") == "借钱不还"
    assert all(label(c) for c in CATEGORIES)


@pytest.mark.parametrize(
    ("law", "number", "phrase"),
    [
        ("民法典", 675, "借款合同"),
        ("民法典", 1067, "父母子女关系和其他近亲属关系"),
        ("民法典", 188, "诉讼时效"),
    ],
)
def test_subject_phrase_drops_the_numbering(mini_corpus: Corpus, law: str, number: int, phrase: str) -> None:
    article = mini_corpus.get(law, number)
    assert article is not None
    assert subject_phrase(article) == phrase


def test_subject_phrase_skips_generic_titles_and_falls_back_to_the_law() -> None:
    general = Article("中华人民共和国人民调解法", 1, ("……",), path=("第一章 总则",))
    local = Article("青山村村规民约", 2, ("……",), kind="local")
    assert subject_phrase(general) == "人民调解法"
    assert subject_phrase(local) == "青山村村规民约"


@pytest.mark.parametrize(
    ("law", "number", "category"),
    [
        ("劳动合同法", 47, "劳动报酬（工钱）"),  # 第四章 劳动合同的解除和终止: "合同" in the title, but a job
        ("社会保险法", 41, "劳动报酬（工钱）"),  # 第四章 工伤保险
        ("社会保险法", 16, None),  # 第二章 基本养老保险: a farmer's pension is not about wages
        ("道路交通安全法", 76, "人身损害赔偿"),
        ("反家庭暴力法", 23, "婚姻家庭"),
        ("老年人权益保障法", 19, "赡养抚养"),
        ("农村土地承包经营纠纷调解仲裁法", 18, "土地承包"),
        ("消费者权益保护法", 55, "消费维权"),
        ("村民委员会组织法", 28, "宪法与公民权利"),  # 村务: 【村务和公民权利】
    ],
)
def test_the_laws_of_village_life_fall_in_their_topic(
    village_sample_corpus: Corpus, law: str, number: int, category: str | None
) -> None:
    article = village_sample_corpus.get(law, number)
    assert article is not None
    assert article_category(article) == category


def test_village_questions_are_classified_by_law_and_words(village_sample_corpus: Corpus) -> None:
    fired = village_sample_corpus.get("劳动合同法", 87)
    crash = village_sample_corpus.get("道路交通安全法", 76)
    assert fired is not None and crash is not None
    assert classify_articles("没签合同干了两年被辞退了", [fired]) == "劳动报酬（工钱）"
    assert classify_articles("骑电瓶车被撞了谁赔", [crash]) == "人身损害赔偿"
