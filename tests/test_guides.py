from __future__ import annotations

from bot.answers.composer import compose_answer
from bot.answers.guides import Tip, advice_line, article_tips, guide, guides
from bot.answers.topics import CATEGORIES
from indexing.retrieval import Hit
from knowledge.articles import Article
from knowledge.corpus import Corpus
from tests.reply_checks import TOWNSHIP


def test_every_category_has_one_to_three_short_tips() -> None:
    table = guides()
    assert tuple(table) == CATEGORIES
    for category in CATEGORIES:
        tips = guide(category)
        assert 1 <= len(tips) <= 3, category
        assert all(5 <= len(tip.text) <= 60 for tip in tips), category


def test_every_tip_cites_an_article_of_the_corpus(full_corpus: Corpus) -> None:
    for category, tips in guides().items():
        for tip in tips:
            article = full_corpus.get(tip.law, tip.number)
            assert article is not None, f"{category}: {tip.law} {tip.number} is not in the corpus"
            assert tip.citation == article.short_citation


def test_advice_line_joins_tips_with_their_citations() -> None:
    tip = Tip("保留借条", "民法典", 675)
    line = advice_line([(tip.text, tip.citation), ("先调解", "《人民调解法》第十七条")])
    assert line == "建议：保留借条（《民法典》第六百七十五条）；先调解（《人民调解法》第十七条）。"
    assert advice_line([]) == ""


def test_every_article_tip_cites_an_article_of_a_law_of_village_life(
    full_corpus: Corpus, township_corpus: Corpus
) -> None:
    """Article tips explain the laws of village life: each exists in the 19 laws, none in the three (whose
    articles the topic guides and the cards explain), and none repeats an article."""
    tips = article_tips()
    assert len(tips) >= 20
    assert len({(tip.law, tip.number) for tip in tips}) == len(tips)
    for tip in tips:
        article = township_corpus.get(tip.law, tip.number)
        assert article is not None, tip
        assert tip.citation == article.short_citation
        assert full_corpus.resolve_law(tip.law) is None, tip
        assert 5 <= len(tip.text) <= 60, tip


def test_a_reply_quoting_an_article_of_village_life_leads_with_its_plain_meaning(
    full_corpus: Corpus, township_corpus: Corpus
) -> None:
    answer = compose_answer("厂里拖了三个月工资", [_hit(township_corpus, "劳动法", 50)], corpus=township_corpus,
                            township=TOWNSHIP)  # fmt: skip
    tip = next(t for t in article_tips() if (t.law, t.number) == ("劳动法", 50))
    assert answer.tip_led and answer.text.splitlines()[0].endswith(f"{tip.text}（《劳动法》第五十条）。")
    plain = compose_answer("厂里拖了三个月工资", [_hit(full_corpus, "民法典", 579)], corpus=full_corpus,
                           township=TOWNSHIP)  # fmt: skip
    assert not any(t.text in plain.text for t in article_tips())


def _hit(corpus: Corpus, law: str, number: int) -> Hit:
    article = corpus.get(law, number)
    assert isinstance(article, Article)
    return Hit(article, score=0.9, retrievers=("bm25", "dense"), chunk_id=f"{article.key}#0",
               dense_score=0.85, dense_margin=0.03)  # fmt: skip
