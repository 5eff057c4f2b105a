"""Step 1 of the pipeline: statute sources → validated articles → chunks."""

from knowledge.articles import Article, StatuteFormatError, parse_articles
from knowledge.chunking import Chunk, chunk_articles
from knowledge.corpus import DEFAULT_LAWS, MISSION_LAWS, TOWNSHIP_LAWS, VILLAGE_LAWS, Corpus, CorpusError, load_corpus
from knowledge.local_docs import LocalDocumentError, load_local_docs, read_local_doc
from knowledge.manifest import ManifestError, load_manifest
from knowledge.sources import SourceError, StatuteDB

__all__ = [
    "DEFAULT_LAWS",
    "MISSION_LAWS",
    "TOWNSHIP_LAWS",
    "VILLAGE_LAWS",
    "Article",
    "Chunk",
    "Corpus",
    "CorpusError",
    "LocalDocumentError",
    "ManifestError",
    "SourceError",
    "StatuteDB",
    "StatuteFormatError",
    "chunk_articles",
    "load_corpus",
    "load_local_docs",
    "load_manifest",
    "parse_articles",
    "read_local_doc",
]
