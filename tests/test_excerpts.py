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


# --- The deciding 款 and 项 (issue 22): lists keep their lead-in, cuts fall at sentence ends ---------------

RULES = Article(
    "青山村村规民约",
    11,
    (
        "村民应当爱护村里的公共设施。",
        "除村民大会同意外，任何人不得实施下列行为：\n（一）在河里炸鱼、电鱼；\n（二）砍伐村口的古树；\n"
        "（三）在山上放火烧荒；\n（四）往水渠里倒垃圾。",
        "违反前款规定的，由村民委员会责令改正；但是，情节轻微并及时改正的，可以不予处理。",
    ),
    kind="local",
)
LEAD_IN = "除村民大会同意外，任何人不得实施下列行为："


@pytest.mark.parametrize("budget", [30, 40, 60])
def test_an_item_keeps_the_lead_in_that_makes_it_a_prohibition(budget: int) -> None:
    text = excerpt(RULES, "村口的古树能砍吗", budget)
    assert "（二）砍伐村口的古树；" in text and LEAD_IN in text
    assert "公共设施" not in text and "炸鱼" not in text
    assert text == f"{ELLIPSIS}{LEAD_IN}{ELLIPSIS}（二）砍伐村口的古树；{ELLIPSIS}"


def test_a_lead_in_that_matches_comes_with_its_best_item() -> None:
    text = excerpt(RULES, "村民大会没同意，有人往水渠里倒垃圾", 40)
    assert LEAD_IN in text and "（四）往水渠里倒垃圾。" in text


def test_an_exception_keeps_the_rule_it_is_an_exception_to() -> None:
    text = excerpt(RULES, "情节轻微并及时改正的能不处理吗", 60)
    assert "但是，情节轻微并及时改正的，可以不予处理。" in text
    assert "违反前款规定的，由村民委员会责令改正；" in text


def test_a_sentence_too_long_for_the_budget_is_cut_at_a_clause_mark() -> None:
    long = "村民在自家承包的田地里种植果树、蔬菜和粮食作物的，" + "应当" * 20 + "遵守规定，不得影响邻居通行。"
    text = excerpt(Article("青山村村规民约", 12, (long,), kind="local"), "种果树", 40)
    assert text == "村民在自家承包的田地里种植果树、蔬菜和粮食作物的，" + ELLIPSIS


def _fragments(text: str) -> list[str]:
    return [f.strip("\n") for f in text.split(ELLIPSIS) if f.strip("\n")]


@pytest.mark.corpus
@pytest.mark.parametrize("budget", [50, 90, 120])
def test_a_twelve_year_olds_custody_keeps_the_eight_year_rule(full_corpus: Corpus, budget: int) -> None:
    article = full_corpus.get("民法典", 1084)
    assert article is not None
    text = excerpt(article, "离婚了孩子十二岁，跟谁过是不是得问孩子自己", budget)
    assert "子女已满八周岁的，应当尊重其真实意愿。" in text
    assert all(f.endswith(("。", "；")) for f in _fragments(text)), text


@pytest.mark.corpus
@pytest.mark.parametrize("budget", [90, 120])
def test_a_camera_question_keeps_1033s_filming_items_under_their_lead_in(full_corpus: Corpus, budget: int) -> None:
    article = full_corpus.get("民法典", 1033)
    assert article is not None
    text = excerpt(article, "邻居家的摄像头正对着俺家院子，能拍到屋里", budget)
    assert text.startswith("除法律另有规定或者权利人明确同意外，任何组织或者个人不得实施下列行为：")
    assert "（二）进入、拍摄、窥视他人的住宅、宾馆房间等私密空间；" in text
    assert "（三）拍摄、窥视、窃听、公开他人的私密活动；" in text
    assert "短信" not in text and all(f.endswith(("。", "；", "：")) for f in _fragments(text)), text


@pytest.mark.corpus
@pytest.mark.parametrize("budget", [50, 90, 120])
def test_1020s_exceptions_never_lose_their_lead_in(full_corpus: Corpus, budget: int) -> None:
    article = full_corpus.get("民法典", 1020)
    assert article is not None
    text = excerpt(article, "村里宣传栏用了俺的照片，说是新闻报道", budget)
    assert "（二）为实施新闻报道" in text
    assert text.startswith("合理实施下列行为的，可以不经肖像权人同意：")


@pytest.mark.corpus
def test_two_years_apart_finds_1079s_item_with_its_lead_in(full_corpus: Corpus) -> None:
    article = full_corpus.get("民法典", 1079)
    assert article is not None
    text = excerpt(article, "分居两年了能不能直接判离", 90)
    assert "有下列情形之一，调解无效的，应当准予离婚：" in text and "（四）因感情不和分居满二年；" in text


QUESTIONS = ["邻居借钱不还，宅基地被占了怎么办", "孩子十二岁跟谁", "摄像头拍俺家", "被狗咬了", "村里不给分红"]


@pytest.mark.corpus
@pytest.mark.parametrize("budget", [50, 90, 120])
def test_no_excerpt_of_the_corpus_doubles_its_ellipsis_or_orphans_a_list_item(
    full_corpus: Corpus, budget: int
) -> None:
    for article in full_corpus.articles:
        for question in QUESTIONS:
            text = excerpt(article, question, budget)
            assert ELLIPSIS * 2 not in text, (article.key, text)
            for paragraph in article.paragraphs:
                if "：\n（" not in paragraph:
                    continue
                head, _, items = paragraph.partition("：\n")
                lead_in = head.rsplit("。", 1)[-1] + "："
                kept_item = any(line in text for line in items.split("\n") if len(line) > 6)
                assert not kept_item or lead_in in text, (article.key, question, text)
