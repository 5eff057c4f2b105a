"""Wiring of the retrieval pipeline from Settings: corpus → embedder → index → Retriever.

The one place where settings meet `knowledge/` and `indexing/`, shared by the CLI and the web app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.answers.cards import cards, check_shipped_cards, usable_cards
from bot.settings import Settings
from indexing.build import IndexMismatchError, IndexMissingError, Manifest, build_index, load_retriever
from indexing.embedder import (
    Embedder,
    EmbedderConfigError,
    ModelNotAvailableError,
    QuestionEmbedder,
    QuestionSide,
)
from indexing.onnx_encoder import OnnxQueryEncoder
from indexing.plain_encoder import export_plain_encoder, load_plain_encoder
from indexing.query_adapter import default_adapter_dir
from indexing.question_bank import WrittenQuestion, default_bank_questions
from indexing.rerank import Reranker
from indexing.retrieval import Retriever
from indexing.static_encoder import default_table_dir
from knowledge.corpus import Corpus, load_corpus
from knowledge.sources import StatuteDB

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


def open_corpus(settings: Settings) -> Corpus:
    local = settings.local_dir if settings.local_dir.is_dir() else None
    return load_corpus(settings.laws, local_dir=local)


def uses_adapter(settings: Settings) -> bool:
    """Whether questions go through the shipped adapter: it was trained for the bundled model only."""
    return settings.query_adapter and settings.embedding_model is None


def open_embedder(settings: Settings) -> Embedder:
    adapter = default_adapter_dir() if uses_adapter(settings) else None
    return Embedder.load(
        settings.embedding_model, settings.model_cache_dir, query_backend=settings.query_encoder,
        query_adapter=adapter, static_table=default_table_dir(), threads=settings.encoder_threads,
    )


def open_question_side(settings: Settings) -> QuestionSide:
    """What answering needs to encode questions: the token table alone when it serves the configured model
    (no torch, no weights), else the whole embedder."""
    if settings.embedding_model is None and settings.query_encoder in ("auto", "static"):
        adapter = default_adapter_dir() if uses_adapter(settings) else None
        try:
            return QuestionEmbedder.load(settings.model_cache_dir, query_adapter=adapter,
                                         static_table=default_table_dir())  # fmt: skip
        except (EmbedderConfigError, ModelNotAvailableError) as exc:
            log.info("questions need the whole model: %s", exc)
    return open_embedder(settings)


def build(settings: Settings, progress: Progress | None = None) -> Manifest:
    """Build or incrementally rebuild the index configured by settings, and export the plain encoder."""
    with StatuteDB() as db:  # a status correction for a law the source lacks is a stale file: fail early
        db.check_overrides()
    corpus = open_corpus(settings)
    check_shipped_cards(corpus)  # a card citing an absent article, or a malformed card file, stops the build
    embedder = open_embedder(settings)
    plain = open_plain_encoder(settings, embedder.document_model_id, embedder)  # exported first when missing
    return build_index(corpus, embedder, settings.index_dir, progress=progress, questions=bank_questions(corpus),
                       plain=plain)  # fmt: skip


def bank_questions(corpus: Corpus) -> list[WrittenQuestion]:
    """What the question bank holds: the written and real questions (`indexing.question_bank`), and the
    situation cards' phrasings, each for its card's first article (the cards in use: `usable_cards`).

    The cards' phrasings are how villagers put the situations the cards answer: with them in the bank, a
    question in those words reaches the card's article, and so the card (bot/conversation/card_match.py).
    `pufa check replies` (248 situations): an acceptable article quoted 77.8 % → 82.7 %, card-led 27 % →
    32 %; STARD 5-fold CV recall@5 / MRR@10 0.697 / 0.646 → 0.697 / 0.644; dev held-out 0.784 / 0.756 →
    0.794 / 0.773 (the dev set and the cards are written by the same team). With the phrasings' words
    counted too: 85.1 % on the situations, but STARD 0.692 / 0.641."""
    phrasings = [WrittenQuestion(text, article.key, card=True)
                 for card in usable_cards(cards(), corpus)
                 if (article := corpus.get(*card.articles[0])) is not None
                 for text in card.texts]  # fmt: skip
    return default_bank_questions({a.key for a in corpus.articles}) + phrasings


def open_plain_encoder(settings: Settings, document_model_id: str, side: QuestionSide,
                       embedder: Embedder | None = None) -> OnnxQueryEncoder | None:  # fmt: skip
    """The plain question encoder (`indexing.plain_encoder`), exported first when missing (that takes the
    whole model, once: `embedder`, or `side` when it is the whole model, if the caller has it loaded); None
    when questions go through no adapter (their encoder is the plain one already). It shares the tokenizer
    of `side`, the questions' encoder, when that has one of the same model."""
    if not uses_adapter(settings) or not document_model_id:  # an index from before the id was kept
        return None
    tokenizer = side.shared_tokenizer if side.model_id.startswith(document_model_id) else None
    encoder = load_plain_encoder(settings.model_cache_dir, document_model_id, tokenizer)
    if encoder is None:
        log.info("exporting the plain question encoder (once)")
        model = embedder or (side if isinstance(side, Embedder) else open_embedder(settings))
        export_plain_encoder(model, settings.model_cache_dir)
        encoder = load_plain_encoder(settings.model_cache_dir, document_model_id, tokenizer)
    return encoder


def open_retriever(
    settings: Settings, *, build_if_needed: bool = False, progress: Progress | None = None,
    answering_only: bool = False, reranker: Reranker | None = None,
) -> Retriever:
    """Load the configured index. With build_if_needed, a missing or outdated index is (re)built
    first — incrementally, so a changed 村规民约 file re-embeds only its own chunks.

    `answering_only`: questions are encoded by what answering needs alone (`open_question_side`): with the
    default model its token table, without torch or the model's weights (0.6 GB instead of 1.8 GB a
    process), which is then loaded only to build the index. `reranker`: instead of the shipped weights
    (the training scripts record features with `indexing.rerank_training.FeatureRecorder`).
    """
    corpus = open_corpus(settings)
    questions = bank_questions(corpus)
    side = open_question_side(settings) if answering_only else open_embedder(settings)
    plain = None
    try:
        retriever = load_retriever(settings.index_dir, corpus, side, reranker=reranker, questions=questions)
    except (IndexMissingError, IndexMismatchError):
        if not build_if_needed:
            raise
        embedder = side if isinstance(side, Embedder) else open_embedder(settings)  # the whole model builds
        plain = open_plain_encoder(settings, embedder.document_model_id, side, embedder)
        build_index(corpus, embedder, settings.index_dir, progress=progress, questions=questions, plain=plain)
        retriever = load_retriever(settings.index_dir, corpus, side, reranker=reranker, questions=questions)
    if plain is None:
        document_model_id = Manifest.read(settings.index_dir).document_model_id
        plain = open_plain_encoder(settings, document_model_id, side)
    retriever.use_plain_encoder(plain)
    return retriever
