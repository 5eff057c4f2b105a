from __future__ import annotations

from bot.confidence import DENSE_CEILING, DENSE_FLOOR, confidence, hit_strength
from indexing.retrieval import Hit
from knowledge.articles import Article

ARTICLE = Article("中华人民共和国民法典", 675, ("借款人应当按照约定的期限返还借款。",))


def hit(dense: float | None, retrievers: tuple[str, ...] = ("dense",)) -> Hit:
    return Hit(ARTICLE, 0.0, retrievers, "c", dense_score=dense)


def test_direct_citation_is_certain() -> None:
    assert hit_strength(hit(None, ("direct",))) == 1.0


def test_strength_grows_with_cosine_and_stays_in_bounds() -> None:
    scores = [hit_strength(hit(d)) for d in (0.0, DENSE_FLOOR, 0.80, 0.84, DENSE_CEILING, 1.0)]
    assert scores == sorted(scores)
    assert scores[0] == scores[1] == 0.0 and scores[-1] == scores[-2] <= 1.0


def test_retrievers_agreeing_adds_confidence() -> None:
    assert hit_strength(hit(0.8, ("bm25", "dense"))) > hit_strength(hit(0.8))
    assert hit_strength(hit(None, ("bm25",))) == 0.0


def test_confidence_is_the_best_hit() -> None:
    assert confidence([]) == 0.0
    assert confidence([hit(0.75), hit(0.86)]) == hit_strength(hit(0.86))
