"""Retrieval: question → ranked articles, from the FAISS and keyword indexes and the question bank
fused and re-ranked, plus direct citations.

SHARED TYPE `Hit` — the bot depends on its fields; extend, don't rename.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from indexing.bank_plain import PlainNeighbours
from indexing.bank_words import WordsView
from indexing.fusion import reciprocal_rank_fusion
from indexing.keyword_index import KeywordIndex, tokenize
from indexing.multi_question import interleave, question_parts
from indexing.on_topic import OnTopicModel
from indexing.plain_encoder import PlainScorer, PlainView
from indexing.query import expand_question
from indexing.question_bank import BankMatch, QuestionBank
from indexing.rerank import DEPTH, BankPlainScore, PlainScore, Reranker, Signals, feature_matrix, overlap
from indexing.vector_index import VectorIndex
from knowledge.articles import Article
from knowledge.chunking import Chunk
from knowledge.citations import find_citations
from knowledge.corpus import Corpus

if TYPE_CHECKING:
    from indexing.embedder import QueryEncoder, QuestionSide

MODES = ("hybrid", "bm25", "dense", "bank")
CANDIDATES = 50  # articles each retriever contributes to fusion
# Chunk rows read per candidate article: a long article has several parts and sentence chunks.
ROWS_PER_CANDIDATE = 4
# RRF weights (bm25, dense, bank), tuned on the dev set's tuning split: dense is the stronger of the
# first two once hubness is corrected (held-out hybrid recall@5 0.490 at 0.5:1, 0.501 at 0.3:1, 0.456
# at 1:1). The bank's weight hardly matters once the re-ranker sees its features (tune, 5-fold
# re-ranked recall@5 / MRR@10 at 0.5, 1 and 2: 0.780 / 0.727, 0.775 / 0.730, 0.781 / 0.729).
# The plain encoder's nearest articles (`indexing.plain_encoder`) join as candidates: re-ranker refitted,
# STARD 5-fold CV recall@5 / dev held-out at weight 0 (features only) 0.681 / 0.760, 0.5 0.680 / 0.759,
# 1 0.686 / 0.764, 2 0.673 / 0.757. So do the articles whose bank questions share the question's words most
# (`indexing.bank_words`), re-ranker refitted: weight 0 (features only) 0.688 / 0.784, 0.5 0.693 / 0.791,
# 1 0.697 / 0.784, 2 0.701 / 0.784 (MRR@10 0.646 at 1, 0.643 at 2).
# The bank's closest questions by the plain encoder (`indexing.bank_plain`) do not join (measured with the
# bank encoded by the float model): weight 0.5 STARD 0.711 / 0.651, dev held-out 0.833; 1 0.711 / 0.649,
# 0.835; against 0.709 / 0.654, 0.830 as features only.
FUSED = ("bm25", "dense", "bank", "plain", "words")
FUSION_WEIGHTS = (0.3, 1.0, 1.0, 1.0, 1.0)
ArticleScores = dict[str, tuple[float, int]]  # article key → (best chunk score, that chunk's row)
DIRECT_SCORE = 1.0  # above any RRF score (at most 2/61): a cited article always comes first


@dataclass(frozen=True, slots=True)
class Hit:
    article: Article
    # Higher ranks first; comparable only within one question. Hybrid search: the re-ranker's
    # probability (0 beyond its depth) or DIRECT_SCORE; bm25 / dense / bank mode: that retriever's score.
    score: float
    retrievers: tuple[str, ...]  # which found it: "direct", "bm25", "dense", "bank", "plain" (`indexing.plain_encoder`)
    chunk_id: str  # the article's best-matching chunk (a part or a sentence)
    # Raw cosine(question, the article's best part); None in bm25-only mode. Parts, not sentence
    # chunks: a short sentence lies close to off-topic questions too, and the confidence threshold was
    # measured on parts (scripts/measure_confidence.py).
    dense_score: float | None = None
    bm25_score: float | None = None
    # dense_score minus that part's hubness penalty: how much closer the question is to it than the
    # typical questions near it. Unlike the raw cosine it separates legal questions from off-topic
    # ones, so it drives the bot's confidence.
    dense_margin: float | None = None


class Retriever:
    """Answers questions from one loaded index; built by `indexing.build.load_retriever`."""

    def __init__(self, *, corpus: Corpus, chunks: Sequence[Chunk], vectors: VectorIndex,
                 keywords: KeywordIndex, embedder: QuestionSide, candidates: int = CANDIDATES,
                 bank: QuestionBank | None = None, reranker: Reranker | None = None,
                 on_topic: OnTopicModel | None = None) -> None:  # fmt: skip
        if not len(chunks) == len(vectors) == len(keywords):
            raise ValueError(f"index rows disagree: {len(chunks)} chunks, {len(vectors)} vectors, "
                             f"{len(keywords)} keyword rows")
        self.corpus = corpus
        self.chunks = tuple(chunks)
        self.vectors = vectors
        self.keywords = keywords
        self.embedder = embedder
        self.candidates = candidates
        self.bank = bank  # None: no written questions to compare with
        self.reranker = reranker  # None: hybrid search keeps the fused order
        self.on_topic = on_topic  # None: every message counts as a legal question
        self.plain: PlainScorer | None = None  # `use_plain_encoder`
        self._article_of_row = tuple(chunk.article_key for chunk in self.chunks)  # read per row per search
        self._rows_of: dict[str, list[int]] = {}  # every chunk of the article
        self._part_rows_of: dict[str, list[int]] = {}  # its parts, without its sentence chunks
        for row, chunk in enumerate(self.chunks):
            self._rows_of.setdefault(chunk.article_key, []).append(row)
            if not chunk.is_sentence:
                self._part_rows_of.setdefault(chunk.article_key, []).append(row)
        # What the re-ranker compares questions with: each article's indexed terms and its titles' words.
        self._terms_of = {key: frozenset(t for row in rows for t in keywords.terms(row))
                          for key, rows in self._rows_of.items()}  # fmt: skip
        paths = {article.path for article in corpus.articles}
        self._title_words = {path: frozenset(tokenize(" ".join(path))) for path in paths}
        self._articles = {article.key: article for article in corpus.articles}
        self._length_of = {article.key: sum(map(len, article.paragraphs)) for article in corpus.articles}
        self._default_law = next((law for law in corpus.laws if law.endswith("民法典")), None)

    def use_plain_encoder(self, encoder: QueryEncoder | None) -> None:
        """Let the re-ranker read the plain question encoder's view (`indexing.plain_encoder`); None: not."""
        self.plain = PlainScorer(encoder, self.vectors.vectors, self._article_of_row) if encoder else None

    def embed_question(self, question: str) -> np.ndarray:
        """The (dim,) unit vector dense search uses for `question` (after the lexicon expansion).

        Callers that also compare questions with each other (curated answers) embed once and pass the
        vector to `search`.
        """
        return self.embedder.encode_query(expand_question(question.strip()))

    def legal_probability(self, question: str, query_vector: np.ndarray) -> float:
        """How likely `question` (whose `embed_question` vector is given) is a legal question; 1.0 without an
        on-topic model, or without the plain encoder one reads."""
        model = self.on_topic
        if model is None:
            return 1.0
        if not model.plain_model_id:
            return model.probability(query_vector)
        if self.plain is None:
            return 1.0
        return model.probability(query_vector, self.plain.vector(question.strip()))

    def search(
        self, question: str, k: int = 10, mode: str = "hybrid", *, query_vector: np.ndarray | None = None,
        split_parts: bool = True,
    ) -> list[Hit]:
        """Top-k articles for a question; mode is "hybrid" (what the bot uses), "bm25", "dense" or "bank".

        `query_vector`: the question's `embed_question`, when the caller already has it.
        `split_parts`: a hybrid search for a message that asks several things searches each part too
        (`indexing.multi_question`); False searches the message whole.
        """
        if mode not in MODES:
            raise ValueError(f"Unknown retrieval mode {mode!r}; use one of {MODES}")
        question = question.strip()
        if not question:
            return []
        parts = question_parts(question) if mode == "hybrid" and split_parts else [question]
        if len(parts) > 1:
            return self._search_parts(question, parts, k, query_vector)
        return self._search_one(question, k, mode, query_vector)

    def _search_parts(self, question: str, parts: list[str], k: int,
                      query_vector: np.ndarray | None) -> list[Hit]:  # fmt: skip
        """A message that asks several things: the whole message's hits and each part's, interleaved
        (STARD, 5-fold CV: recall@5 0.634 → 0.638; dev held-out 0.750 → 0.753). Each hit keeps the
        score it has in its own list."""
        rankings = [self._search_one(question, k, "hybrid", query_vector)]
        rankings += [self._search_one(part, k, "hybrid", None) for part in parts]
        first = {hit.article.key: hit for ranking in reversed(rankings) for hit in ranking}
        keys = interleave([[hit.article.key for hit in ranking] for ranking in rankings])
        return [first[key] for key in keys[:k]]

    def _search_one(self, question: str, k: int, mode: str, query_vector: np.ndarray | None) -> list[Hit]:
        expanded = expand_question(question)
        typed_words, words = _question_words(question, expanded)
        bm25 = self._by_article(self.keywords.scores(expanded, words)) if mode in ("hybrid", "bm25") else {}
        query = None
        if mode != "bm25":
            query = query_vector if query_vector is not None else self.embedder.encode_query(expanded)
        dense = self._dense_ranking(query) if query is not None and mode != "bank" else {}
        bank = self._bank_matches(query) if query is not None and mode in ("hybrid", "bank") else {}
        plain = self.plain.view(question) if self.plain is not None and mode == "hybrid" else None
        in_bank = self.bank.words.view(words) if self.bank is not None and mode == "hybrid" else None
        bank_plain = self.bank.plain if self.bank is not None else None
        near_plain = bank_plain.view(plain.query) if bank_plain is not None and plain is not None else None
        rankings = {"bm25": _ranked(bm25), "dense": _ranked(dense), "bank": list(bank),
                    "plain": plain.ranking(self.candidates) if plain is not None and FUSION_WEIGHTS[3] else [],
                    "words": in_bank.ranking(self.candidates) if in_bank is not None and FUSION_WEIGHTS[4] else []}
        if mode == "hybrid":
            fused = reciprocal_rank_fusion([rankings[name] for name in FUSED], weights=FUSION_WEIGHTS)
        elif mode == "bank":
            fused = [(key, match.share) for key, match in bank.items()]
        else:
            fused = [(key, (bm25 or dense)[key][0]) for key in rankings[mode]]
        direct = self._direct(question)
        cited = set(direct)
        order = [(key, DIRECT_SCORE) for key in direct] + [(key, sc) for key, sc in fused if key not in cited]
        top = {name: set(ranking[: self.candidates]) for name, ranking in rankings.items()}
        # The articles that can reach the hits: the re-ranker only reorders the first DEPTH after the cited.
        reach = order[: max(k, len(cited) + DEPTH)]
        cosines = self.vectors.cosines(query, self._rows_of_all(reach)) if query is not None else None
        seen = _Seen(query=query, cosines=cosines, bm25=bm25, dense=dense, bank=bank, top=top, direct=cited,
                     plain=plain, words=in_bank, bank_plain=near_plain)
        if mode == "hybrid" and self.reranker is not None:
            context = _Words(expanded=frozenset(words), typed=frozenset(typed_words))
            order = self._reranked(order, seen, rankings, context)
        return [self._hit(key, score, seen) for key, score in order[:k]]

    def _reranked(self, order: list[tuple[str, float]], seen: _Seen, rankings: dict[str, list[str]],
                  words: _Words) -> list[tuple[str, float]]:  # fmt: skip
        """Direct citations stay first; the next DEPTH articles in the re-ranker's order (scored by it),
        the rest after with score 0."""
        assert self.reranker is not None and seen.query is not None
        cited = [(key, score) for key, score in order if key in seen.direct]
        fused = [(key, score) for key, score in order if key not in seen.direct]
        head, tail = fused[:DEPTH], fused[DEPTH:]
        if not head or seen.cosines is None:  # nothing to re-rank, or no question vector to re-rank by
            return order
        rows = np.array([seen.dense[key][1] if key in seen.dense else self._dense_best_row(key, seen)
                         for key, _ in head])  # fmt: skip
        cosines = seen.cosines[rows]
        margins = cosines - self.vectors.penalties[rows]
        ranks = {name: {key: rank for rank, key in enumerate(ranking)} for name, ranking in rankings.items()}
        keys = [key for key, _ in head]
        bank_cosines = self._bank_cosines(seen, keys)
        plain = seen.plain.scores(keys) if seen.plain is not None else [None] * len(keys)
        bank_words: list[float | None] = [None] * len(keys) if seen.words is None else list(seen.words.scores(keys))
        bank_plain: list[BankPlainScore | None] = [None] * len(keys)
        if seen.bank_plain is not None:
            bank_plain = list(seen.bank_plain.scores(keys))
        signals = [
            self._signals(key, fused_score, float(cosine), float(margin), seen, ranks, words, bank_cosines,
                          view, in_bank, near)
            for (key, fused_score), cosine, margin, view, in_bank, near
            in zip(head, cosines, margins, plain, bank_words, bank_plain, strict=True)
        ]
        scores = self.reranker.scores(feature_matrix(signals))
        reranked = [(head[i][0], float(scores[i])) for i in np.argsort(-scores, kind="stable")]
        return cited + reranked + [(key, 0.0) for key, _ in tail]

    def _signals(self, key: str, fused: float, cosine: float, margin: float, seen: _Seen,
                 ranks: dict[str, dict[str, int]], words: _Words, bank_cosines: dict[str, float],
                 plain: PlainScore | None, bank_words: float | None,
                 bank_plain: BankPlainScore | None) -> Signals:  # fmt: skip
        article, terms = self._articles[key], self._terms_of[key]
        bank_match = seen.bank.get(key)
        bank_share = bank_match.share if bank_match else 0.0
        return Signals(
            fused=fused, dense=cosine, margin=margin, bm25=seen.bm25[key][0] if key in seen.bm25 else 0.0,
            bm25_rank=ranks["bm25"].get(key), dense_rank=ranks["dense"].get(key),
            bank_share=None if self.bank is None else bank_share,
            bank_cosine=bank_cosines.get(key), bank_rank=ranks["bank"].get(key),
            coverage=overlap(words.expanded, terms), raw_coverage=overlap(words.typed, terms),
            title_overlap=overlap(words.expanded, self._title_words[article.path]),
            length=self._length_of[key], cited=self.bank.citations[key] if self.bank is not None else 0,
            plain=plain, bank_words=bank_words, bank_plain=bank_plain,
        )  # fmt: skip

    def _bank_matches(self, query: np.ndarray) -> dict[str, BankMatch]:
        if self.bank is None:
            return {}
        return self.bank.matches(self.bank.nearest(query), self.candidates)

    def _bank_cosines(self, seen: _Seen, keys: list[str]) -> dict[str, float]:
        """Each article's closest written question's cosine: from the bank's matches, else computed. An
        article without written questions is left out."""
        if self.bank is None or seen.query is None:
            return {}
        matches = seen.bank
        found = {key: matches[key].cosine for key in keys if key in matches}
        return found | self.bank.best_cosines(seen.query, [key for key in keys if key not in matches])

    def _direct(self, question: str) -> list[str]:
        """Keys of the articles the question cites itself (《民法典》第1079条), ahead of everything else."""
        cited = find_citations(question, self.corpus.laws, self._default_law)
        return [f"{law}:{n}" for law, n in cited if self.corpus.get(law, n) is not None]

    def _by_article(self, chunk_scores: np.ndarray) -> ArticleScores:
        """article key → (best chunk score, that chunk's row), for positive scores only."""
        best: ArticleScores = {}
        positive = np.flatnonzero(chunk_scores > 0)  # most rows share no word with the question
        order = np.argsort(-chunk_scores[positive], kind="stable")
        ranked = positive[order[: self.candidates * ROWS_PER_CANDIDATE]]
        for row, score in zip(ranked.tolist(), chunk_scores[ranked].tolist(), strict=True):
            best.setdefault(self._article_of_row[row], (score, row))
        return best

    def _dense_ranking(self, query: np.ndarray) -> ArticleScores:
        scores, rows = self.vectors.search(query, self.candidates * ROWS_PER_CANDIDATE)
        best: ArticleScores = {}
        for score, row in zip(scores.tolist(), rows.tolist(), strict=True):
            best.setdefault(self._article_of_row[row], (score, row))
        return best

    def _hit(self, key: str, score: float, seen: _Seen) -> Hit:
        found_by = (("direct",) if key in seen.direct else ()) + tuple(
            name for name in FUSED if key in seen.top[name])
        dense_row = seen.dense[key][1] if key in seen.dense else self._dense_best_row(key, seen)
        dense_score = dense_margin = None
        if seen.cosines is not None:
            part_rows = np.asarray(self._part_rows_of[key])
            cosines = seen.cosines[part_rows]
            margins = cosines - self.vectors.penalties[part_rows]
            best = int(np.argmax(margins))
            dense_score, dense_margin = float(cosines[best]), float(margins[best])
        bm25_score, bm25_row = seen.bm25.get(key, (None, None))
        best_row = next(row for row in (dense_row, bm25_row, self._rows_of[key][0]) if row is not None)
        return Hit(article=self._articles[key], score=float(score), retrievers=found_by,
                   chunk_id=self.chunks[best_row].id, dense_score=dense_score, bm25_score=bm25_score,
                   dense_margin=dense_margin)

    def _rows_of_all(self, scored: list[tuple[str, float]]) -> np.ndarray:
        return np.fromiter(chain.from_iterable(self._rows_of[key] for key, _ in scored), dtype=np.int64)

    def _dense_best_row(self, key: str, seen: _Seen) -> int | None:
        """The article's chunk closest to the question, for articles dense search did not rank."""
        if seen.cosines is None:
            return None
        rows = np.asarray(self._rows_of[key])
        return int(rows[int(np.argmax(seen.cosines[rows]))])


@dataclass(frozen=True, slots=True)
class _Seen:
    """What each retriever saw for one question, shared by that question's hits."""

    query: np.ndarray | None  # the question's embedding (None in bm25 mode)
    cosines: np.ndarray | None  # its cosine with the chunks of the articles that can be hits (bm25: None)
    bm25: ArticleScores
    dense: ArticleScores
    bank: dict[str, BankMatch]  # the question bank's articles, best first
    top: dict[str, set[str]]  # retriever → the article keys it contributed to fusion
    direct: set[str]  # articles the question cites itself
    plain: PlainView | None  # the plain encoder's view of every article (hybrid search with one)
    words: WordsView | None  # the question bank's words' view of every article (hybrid search with a bank)
    bank_plain: PlainNeighbours | None  # the bank's questions by the plain encoder (hybrid, with both)


@dataclass(frozen=True, slots=True)
class _Words:
    """A question's words: after the lexicon expansion, and as the villager typed them."""

    expanded: frozenset[str]
    typed: frozenset[str]


def _question_words(question: str, expanded: str) -> tuple[list[str], list[str]]:
    """The words of the question as typed and of its expansion, with one jieba pass over the question
    in the usual case (no filler cleaned away): the expansion is then the question, a space and the
    added terms, and jieba cuts either side of a space apart."""
    typed = tokenize(question)
    if not expanded.startswith(question):
        return typed, tokenize(expanded)
    added = expanded[len(question) :]
    return typed, typed + tokenize(added) if added else typed


def _ranked(scores: ArticleScores) -> list[str]:
    return sorted(scores, key=lambda key: scores[key][0], reverse=True)
