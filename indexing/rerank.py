"""Re-ranking: the fused candidates reordered by a linear model over what the retrievers saw.

Rank fusion weighs only the two rank positions. The scores behind them say more: how far an article's
cosine falls below the best one, whether the question's own words (not only the lexicon's legal
terms) occur in the article, whether they name its chapter, how long it is; and how much each
retriever's rank is worth for this question (BM25's for a question in the statute's words, the
question bank's for a villager's). A logistic model over those signals, fitted on the dev set's
tuning split and STARD's real questions by `scripts/train_reranker.py`, reorders the top `DEPTH`
fused articles. Its weights are data (`indexing/data/reranker.json`): retrain after changing the
lexicon, the index or the questions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from knowledge.corpus import VILLAGE_LAWS

DEPTH = 50  # fused articles re-ranked: 80 % of gold articles are among them on the tuning split (74 % in 30)
DEFAULT_WEIGHTS = Path(__file__).parent / "data" / "reranker.json"
# Fitted on a township's 19 laws (`knowledge.corpus.TOWNSHIP_LAWS`) with their written and real questions
# (652 of STARD's): on that index, held-out recall@5 / MRR@10 of the village laws' written questions
# 0.711 / 0.594 against 0.711 / 0.586 with the three laws' weights, of the dev set 0.735 / 0.671 against
# 0.731 / 0.662; STARD's 652, 5-fold CV, 0.657 / 0.627 (with the bank's words as features and candidates:
# 0.800 / 0.680, 0.775 / 0.736 and 0.663 / 0.627; with the cards' phrasings in the bank too: 0.778 / 0.671,
# 0.783 / 0.766 and 0.667 / 0.626; with the bank by the plain encoder: 0.833 / 0.677, 0.820 / 0.822 and
# 0.666 / 0.642).
TOWNSHIP_WEIGHTS = Path(__file__).parent / "data" / "reranker_township.json"
ABSENT_RANK = 100  # rank given to an article a retriever did not return (each ranks at most 100)
FEATURES = (
    "fused",  # the RRF score
    "position",  # log of the fused rank
    "dense",  # raw cosine of the best chunk (a part or a sentence)
    "dense_gap",  # that cosine minus the best cosine among the candidates
    "margin",  # that chunk's hubness-corrected cosine
    "margin_gap",
    "bm25",  # BM25 score over the best BM25 score among the candidates
    "bm25_rank",  # log ranks in each retriever's own list
    "dense_rank",
    "bank_share",  # the article's share of the question bank's nearest written questions
    "bank_gap",  # its closest written question's cosine minus the best among the candidates
    "bank_rank",  # log rank in the question bank's list
    "coverage",  # share of the expanded question's words found in the article's index terms
    "raw_coverage",  # the same for the words the villager typed
    "title_overlap",  # share of the expanded question's words in the article's 编/章/节 titles
    "length",  # log of the article's length in characters
    # Question-level strengths times the ranks: how much each retriever is worth depends on the question
    # (BM25 is strong for questions in the statute's words, the question bank for villagers' wording).
    "lexical_x_bm25_rank",  # log(1 + best BM25 score among the candidates) × log BM25 rank
    "lexical_x_dense_rank",
    "lexical_x_bank_rank",
    "covered_x_bm25_rank",  # best raw coverage among the candidates × log BM25 rank
    "covered_x_dense_rank",
    "covered_x_bank_rank",
    # Real people's questions in the question bank that cite the article: laypeople's troubles lead to
    # some articles (违约责任, 相邻关系) far more often than to their neighbours.
    "cited",  # log(1 + their number)
    "ever_cited",  # 1 if any
    # The bundled model's own question side, without the adapter fitted on written questions: on real
    # questions it ranks articles differently, and often better (`indexing.plain_encoder`).
    "plain",  # raw cosine of the article's best chunk
    "plain_gap",  # that cosine minus the best article's in the whole corpus
    "plain_rank",  # log rank among all articles
    # The words of the questions the bank holds for the article (`indexing.bank_words`).
    "bank_words",  # mean log-likelihood ratio of the question's words
    "bank_words_gap",  # that minus the best among the candidates
    "bank_words_rank",  # log rank among the candidates
    # The bank's questions as the plain encoder sees them (`indexing.bank_plain`).
    "bank_plain",  # the article's closest bank question's cosine (the lowest among the candidates if none)
    "bank_plain_gap",  # that minus the best among the candidates
    "bank_plain_share",  # its share of the question's closest bank questions
    "bank_plain_rank",  # log rank of the cosine among the candidates
)


class Signals(NamedTuple):
    """What retrieval saw of one candidate article, before re-ranking. (A tuple: fifty are made a question,
    and a frozen dataclass took four times as long to build.)"""

    fused: float
    dense: float
    margin: float
    bm25: float
    bm25_rank: int | None  # 0-based; None when the retriever did not return it
    dense_rank: int | None
    bank_share: float | None  # None: the retriever has no question bank (its features are missing)
    bank_cosine: float | None  # None: no written question for this article
    bank_rank: int | None
    coverage: float
    raw_coverage: float
    title_overlap: float
    length: int
    cited: int  # real questions in the question bank citing the article
    plain: PlainScore | None  # None: no plain encoder (its features are missing)
    bank_words: float | None  # None: no question bank
    bank_plain: BankPlainScore | None  # None: no plain encoder, or a bank without its vectors


class BankPlainScore(NamedTuple):
    """The bank's questions by the plain encoder, for one article."""

    cosine: float | None  # of the article's closest bank question; None: it has none
    share: float  # its share of the question's closest bank questions


class PlainScore(NamedTuple):
    """The plain question encoder's view of one article."""

    cosine: float  # of the article's best chunk
    gap: float  # that cosine minus the best article's in the corpus (≤ 0)
    rank: int  # 0-based, among all articles


def feature_matrix(candidates: Sequence[Signals]) -> np.ndarray:
    """(len(candidates), len(FEATURES)) in fused order; some features compare a candidate with the others."""
    if not candidates:
        return np.empty((0, len(FEATURES)))
    best_dense = max(c.dense for c in candidates)
    best_margin = max(c.margin for c in candidates)
    best_bm25 = max(max(c.bm25 for c in candidates), 1e-9)
    lexical = math.log1p(best_bm25)
    covered = max(c.raw_coverage for c in candidates)
    bank = [c.bank_cosine for c in candidates if c.bank_cosine is not None]
    best_bank, worst_bank = (max(bank), min(bank)) if bank else (0.0, 0.0)
    no_bank = [math.nan] * 3
    no_plain = (math.nan,) * 3
    words = _words_features([c.bank_words for c in candidates])
    near = _bank_plain_features([c.bank_plain for c in candidates])
    return np.array([
        [
            c.fused, math.log(position + 1), c.dense, c.dense - best_dense, c.margin, c.margin - best_margin,
            c.bm25 / best_bm25, _log_rank(c.bm25_rank), _log_rank(c.dense_rank),
            *([c.bank_share, (worst_bank if c.bank_cosine is None else c.bank_cosine) - best_bank,
               _log_rank(c.bank_rank)] if c.bank_share is not None else no_bank),
            c.coverage, c.raw_coverage, c.title_overlap, math.log(c.length + 1),
            *(strength * rank for strength in (lexical, covered)
              for rank in (_log_rank(c.bm25_rank), _log_rank(c.dense_rank),
                           math.nan if c.bank_share is None else _log_rank(c.bank_rank))),
            math.log1p(c.cited), float(c.cited > 0),
            *((c.plain.cosine, c.plain.gap, math.log(c.plain.rank + 1)) if c.plain is not None else no_plain),
            *words[position], *near[position],
        ]
        for position, c in enumerate(candidates)
    ])  # fmt: skip


def _words_features(scores: Sequence[float | None]) -> list[tuple[float, float, float]]:
    """Per candidate: its bank-words score, that minus the best, the log of its rank among the candidates."""
    known = [score for score in scores if score is not None]
    if not known:
        return [(math.nan,) * 3] * len(scores)
    best = max(known)
    order = sorted(range(len(scores)), key=lambda i: -(score if (score := scores[i]) is not None else -math.inf))
    rank = {i: r for r, i in enumerate(order)}
    return [(math.nan,) * 3 if score is None else (score, score - best, math.log(rank[i] + 1))
            for i, score in enumerate(scores)]  # fmt: skip


def _bank_plain_features(scores: Sequence[BankPlainScore | None]) -> list[tuple[float, ...]]:
    """Per candidate: its closest bank question's cosine (the lowest among the candidates for an article
    without any), that minus the best, its share of the neighbours, the log of its rank by cosine."""
    present = [score for score in scores if score is not None]
    if len(present) < len(scores):
        return [(math.nan,) * 4] * len(scores)
    floor = min((score.cosine for score in present if score.cosine is not None), default=0.0)
    cosines = [floor if score.cosine is None else score.cosine for score in present]
    best = max(cosines, default=0.0)
    order = sorted(range(len(cosines)), key=lambda i: -cosines[i])
    rank = {i: r for r, i in enumerate(order)}
    return [(cosine, cosine - best, score.share, math.log(rank[i] + 1))
            for i, (cosine, score) in enumerate(zip(cosines, present, strict=True))]  # fmt: skip


def overlap(words: frozenset[str], terms: frozenset[str]) -> float:
    """Share of `words` found in `terms` (0 for no words)."""
    return len(words & terms) / len(words) if words else 0.0


def _log_rank(rank: int | None) -> float:
    return math.log((ABSENT_RANK if rank is None else rank) + 1)


def weights_for(laws: Sequence[str]) -> Path:
    """The shipped weights fitted on corpora like this one: the township's when it holds any law of
    village life, else the three laws' (a 村规民约 beside them does not change that)."""
    return TOWNSHIP_WEIGHTS if set(laws) & set(VILLAGE_LAWS) else DEFAULT_WEIGHTS


class Reranker(Protocol):
    def scores(self, features: np.ndarray) -> np.ndarray:
        """One score per row of `feature_matrix`; higher ranks first."""
        ...


class WeightsFileError(ValueError):
    """The re-ranker's weights file does not fit this version's features."""


@dataclass(frozen=True)
class LinearReranker:
    """Logistic regression on standardised features: scores are the probability an article is relevant.

    A missing feature (NaN: the bank's, for a retriever without a question bank) counts as its mean.
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def scores(self, features: np.ndarray) -> np.ndarray:
        standardised = np.nan_to_num((features - self.mean) / self.scale, nan=0.0)
        probabilities: np.ndarray = 1.0 / (1.0 + np.exp(-(standardised @ self.weights + self.bias)))
        return probabilities

    @classmethod
    def load(cls, path: Path = DEFAULT_WEIGHTS) -> LinearReranker:
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data.get("features", ())) != FEATURES:
            raise WeightsFileError(f"{path} was trained on features {data.get('features')}, "
                                   f"not {list(FEATURES)}: run scripts/train_reranker.py")  # fmt: skip
        mean, scale, weights = (np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "weights"))
        if any(a.shape != (len(FEATURES),) for a in (mean, scale, weights)) or not np.all(scale > 0):
            raise WeightsFileError(f"{path}: mean, scale and weights need {len(FEATURES)} values, scale > 0")
        return cls(mean, scale, weights, float(data["bias"]))

    def save(self, path: Path, **provenance: object) -> None:
        data = {"features": list(FEATURES), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist(), "bias": self.bias, **provenance}  # fmt: skip
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
