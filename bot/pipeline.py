"""Wiring of the retrieval pipeline from Settings: corpus → embedder → index → Retriever.

The one place where settings meet `knowledge/` and `indexing/`, shared by the CLI and the web app.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.settings import Settings
from indexing.build import IndexMismatchError, IndexMissingError, Manifest, build_index, load_retriever
from indexing.embedder import Embedder
from indexing.query_adapter import default_adapter_dir
from indexing.retrieval import Retriever
from indexing.static_encoder import default_table_dir
from knowledge.corpus import Corpus, load_corpus

Progress = Callable[[int, int], None]


def open_corpus(settings: Settings) -> Corpus:
    local = settings.local_dir if settings.local_dir.is_dir() else None
    return load_corpus(settings.laws, local_dir=local)


def open_embedder(settings: Settings) -> Embedder:
    # The shipped adapter was trained for the bundled model only.
    adapter = default_adapter_dir() if settings.query_adapter and settings.embedding_model is None else None
    return Embedder.load(
        settings.embedding_model, settings.model_cache_dir, query_backend=settings.query_encoder,
        query_adapter=adapter, static_table=default_table_dir(), threads=settings.encoder_threads,
    )


def build(settings: Settings, progress: Progress | None = None) -> Manifest:
    """Build or incrementally rebuild the index configured by settings."""
    return build_index(open_corpus(settings), open_embedder(settings), settings.index_dir, progress=progress)


def open_retriever(
    settings: Settings, *, build_if_needed: bool = False, progress: Progress | None = None
) -> Retriever:
    """Load the configured index. With build_if_needed, a missing or outdated index is (re)built
    first — incrementally, so a changed 村规民约 file re-embeds only its own chunks."""
    corpus = open_corpus(settings)
    embedder = open_embedder(settings)
    try:
        return load_retriever(settings.index_dir, corpus, embedder)
    except (IndexMissingError, IndexMismatchError):
        if not build_if_needed:
            raise
    build_index(corpus, embedder, settings.index_dir, progress=progress)
    return load_retriever(settings.index_dir, corpus, embedder)
