from __future__ import annotations

from bot.answers.confidence import MARGIN_CEILING, MARGIN_FLOOR, confidence, hit_strength
from indexing.retrieval import Hit
from knowledge.articles import Article

ARTICLE = Article("中华人民共和国民法典", 675, ("借款人应当按照约定的期限返还借款。",))


def hit(margin: float | None, retrievers: tuple[str, ...] = ("dense",)) -> Hit:
    return Hit(ARTICLE, 0.0, retrievers, "c", dense_score=None if margin is None else 0.85, dense_margin=margin)


def test_direct_citation_is_certain() -> None:
    assert hit_strength(hit(None, ("direct",))) == 1.0


def test_strength_grows_with_the_margin_and_stays_in_bounds() -> None:
    margins = (-0.5, MARGIN_FLOOR, -0.01, 0.0, 0.02, MARGIN_CEILING, 0.3)
    scores = [hit_strength(hit(m)) for m in margins]
    assert scores == sorted(scores)
    assert scores[0] == scores[1] == 0.0 and scores[-1] == scores[-2] == 1.0
    assert 0.0 < scores[2] < scores[4] < 1.0


def test_a_hit_without_a_dense_score_carries_no_confidence() -> None:
    assert hit_strength(hit(None, ("bm25",))) == 0.0


def test_confidence_is_the_best_hit() -> None:
    assert confidence([]) == 0.0
    assert confidence([hit(-0.02), hit(0.01)]) == hit_strength(hit(0.01))
