from __future__ import annotations

from bot.answers.guides import Tip, advice_line, guide, guides
from bot.answers.topics import CATEGORIES
from knowledge.corpus import Corpus


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
