"""Index build and load: chunks → embeddings + keyword tokens on disk, with a manifest that guards loading.

A build writes into a temporary sibling directory and renames it into place, so a crash never leaves
a broken index; a rebuild re-embeds only chunks whose content hash changed.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexing.hubness import default_query_pool, hub_penalties
from indexing.keyword_index import KeywordIndex
from indexing.on_topic import DEFAULT_WEIGHTS as DEFAULT_ON_TOPIC
from indexing.on_topic import OnTopicModel
from indexing.query import expand_question
from indexing.question_bank import QuestionBank, WrittenQuestion, default_bank_questions, questions_digest
from indexing.vector_index import VectorIndex
from knowledge.chunking import Chunk, chunk_articles
from knowledge.corpus import Corpus

if TYPE_CHECKING:
    from indexing.embedder import Embedder, QueryEncoder, QuestionSide
    from indexing.rerank import Reranker
    from indexing.retrieval import Retriever

log = logging.getLogger(__name__)

FORMAT_VERSION = 4  # 2: hubness penalties (hub_penalties.npy); 3: the question bank; 4: its plain vectors
MANIFEST = "manifest.json"
VECTORS = "vectors.npy"
PENALTIES = "hub_penalties.npy"
KEYWORDS = "keywords.json"

Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed)


class IndexMismatchError(RuntimeError):
    """The index on disk was built from another model or corpus than the one loaded now."""

    def __init__(self, index_dir: Path, what: str, expected: str, found: str) -> None:
        super().__init__(
            f"The index in {index_dir} was built with {what} {found!r}, but {expected!r} is configured. "
            "Rebuild it with `pufa build`."
        )
        self.what, self.expected, self.found = what, expected, found


class IndexMissingError(FileNotFoundError):
    def __init__(self, index_dir: Path) -> None:
        super().__init__(f"No index in {index_dir}. Build it with `pufa build`.")


@dataclass(frozen=True)
class Manifest:
    model_id: str
    dim: int
    corpus_checksum: str
    source_sha256: str
    laws: tuple[str, ...]
    chunk_ids: tuple[str, ...]
    chunk_hashes: tuple[str, ...]
    format_version: int = FORMAT_VERSION
    built_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    reused_vectors: int = 0  # how many chunks this build did not need to re-embed
    # The model of the vectors alone (model_id also names the question side); "" in older indexes.
    document_model_id: str = ""
    questions_sha256: str = ""  # `questions_digest` of the written questions the bank was built from

    def write(self, directory: Path) -> None:
        (directory / MANIFEST).write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        for key in ("laws", "chunk_ids", "chunk_hashes"):
            data[key] = tuple(data[key])
        return cls(**data)


def _previous_vectors(out_dir: Path, model_id: str) -> dict[str, np.ndarray]:
    """content hash → vector from the index being replaced, if its documents used the same model."""
    try:
        old = Manifest.read(out_dir)
        vectors = np.load(out_dir / VECTORS, allow_pickle=False)
    except (OSError, ValueError, TypeError, KeyError):
        return {}
    if (old.document_model_id or old.model_id) != model_id or len(old.chunk_hashes) != len(vectors):
        return {}
    return dict(zip(old.chunk_hashes, vectors, strict=True))


def _previous_bank(out_dir: Path, embedder: Embedder) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Text as encoded → question vector, and → plain vector, from the bank being replaced, each if its
    encoder was the same."""
    try:
        old, bank = Manifest.read(out_dir), QuestionBank.load(out_dir)
    except (OSError, ValueError, TypeError, KeyError):
        return {}, {}
    vectors = bank.vectors_by_text() if old.model_id == embedder.model_id else {}
    plain = bank.plain_by_text() if old.document_model_id == embedder.document_model_id else {}
    return vectors, plain


def _plain_vectors(bank: QuestionBank, asked: Sequence[WrittenQuestion], plain: QueryEncoder,
                   reuse: dict[str, np.ndarray], progress: Progress | None) -> np.ndarray:  # fmt: skip
    """The bank's rows as asked (`asked`, row-aligned with `bank`), by the plain encoder, as questions are."""
    todo = sorted({q.question for q, text in zip(asked, bank.texts, strict=True) if text not in reuse})
    fresh = dict(zip(todo, _bank_encoder(plain.encode, progress)(todo), strict=True)) if todo else {}
    vectors = np.zeros((len(asked), bank.vectors.shape[1]), dtype=np.float32)
    for row, (q, text) in enumerate(zip(asked, bank.texts, strict=True)):
        vectors[row] = reuse[text] if text in reuse else fresh[q.question]
    return vectors


def _embed(chunks: Sequence[Chunk], embedder: Embedder, reuse: dict[str, np.ndarray],
           progress: Progress | None, batch_size: int = 16) -> np.ndarray:
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    for i, c in enumerate(chunks):
        if c.content_hash in reuse:
            vectors[i] = reuse[c.content_hash]
    # Batches of similar length waste little on padding; small batches suit 2 cores best. Longest
    # first: later, smaller batches reuse the freed blocks (peak RSS of a full build 1.49 → 1.10 GB).
    todo = sorted((i for i, c in enumerate(chunks) if c.content_hash not in reuse), key=lambda i: -len(chunks[i].text))
    for start in range(0, len(todo), batch_size):
        rows = todo[start:start + batch_size]
        vectors[rows] = embedder.encode_documents([chunks[i].text for i in rows], batch_size=batch_size)
        if progress:
            progress(min(start + batch_size, len(todo)), len(todo))
    return vectors


def _bank_encoder(encode_batch: Callable[[list[str]], np.ndarray],
                  progress: Progress | None) -> Callable[[list[str]], np.ndarray]:  # fmt: skip
    """Encodes bank questions in batches of 64 with `encode_batch`, showing progress."""
    def encode(texts: list[str], batch_size: int = 64) -> np.ndarray:
        parts = []
        for start in range(0, len(texts), batch_size):
            parts.append(encode_batch(texts[start:start + batch_size]))
            if progress:
                progress(min(start + batch_size, len(texts)), len(texts))
        return np.concatenate(parts)
    return encode


def _stand_ins(corpus: Corpus, written: Sequence[WrittenQuestion]) -> list[WrittenQuestion]:
    """For laws without any written question (a 村规民约): each article's text, asked as a question.

    Without them the question bank knows nothing of such a law, and its articles lose to statute
    articles that have close written questions even when they answer the question best.
    """
    covered = {q.article_key.rsplit(":", 1)[0] for q in written if not q.card}  # a card's phrasings are few
    return [WrittenQuestion("".join(a.paragraphs), a.key) for a in corpus.articles if a.law not in covered]


def build_index(corpus: Corpus, embedder: Embedder, out_dir: Path, progress: Progress | None = None,
                query_pool: Sequence[str] | None = None, questions: Sequence[WrittenQuestion] | None = None,
                plain: QueryEncoder | None = None) -> Manifest:  # fmt: skip
    """Build (or incrementally rebuild) the index of a corpus into out_dir.

    query_pool: typical questions for the hubness correction (default: the shipped pool).
    questions: the written questions of the question bank (default: the shipped ones).
    plain: the plain question encoder of `embedder`'s document model (`indexing.plain_encoder`): the bank
    keeps its questions' plain vectors (`indexing.bank_plain`); None: it keeps none.
    progress: called with (done, total) while chunks are embedded, then while the bank's questions are.
    """
    chunks = chunk_articles(corpus.articles)
    reuse = _previous_vectors(out_dir, embedder.document_model_id)
    vectors = _embed(chunks, embedder, reuse, progress)
    pool = list(default_query_pool() if query_pool is None else query_pool)
    pool_vectors = embedder.encode_queries(pool, reference=True)
    penalties = hub_penalties(vectors, pool_vectors)
    keys = {a.key for a in corpus.articles}
    written = list(default_bank_questions(keys) if questions is None else questions)
    asked = [q for q in written + _stand_ins(corpus, written) if q.article_key in keys]
    previous, previous_plain = _previous_bank(out_dir, embedder)
    # The question side reads them as it reads questions, through the lexicon; the plain side as asked.
    bank = QuestionBank.build([q._replace(question=expand_question(q.question)) for q in asked],
                              _bank_encoder(embedder.encode_queries, progress), keys, reuse=previous)  # fmt: skip
    if plain is not None:
        bank = bank.with_plain(_plain_vectors(bank, asked, plain, previous_plain, progress))
    manifest = Manifest(
        model_id=embedder.model_id,
        dim=embedder.dim,
        corpus_checksum=corpus.checksum,
        source_sha256=corpus.source_sha256,
        laws=corpus.laws,
        chunk_ids=tuple(c.id for c in chunks),
        chunk_hashes=tuple(c.content_hash for c in chunks),
        reused_vectors=sum(c.content_hash in reuse for c in chunks),
        document_model_id=embedder.document_model_id,
        questions_sha256=questions_digest(written),
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        VectorIndex(vectors, penalties).save(tmp / VECTORS, tmp / PENALTIES)
        KeywordIndex.build(c.text for c in chunks).save(tmp / KEYWORDS)
        bank.save(tmp)
        manifest.write(tmp)  # written last: a directory without it is never taken for an index
        _swap_into_place(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def _swap_into_place(new: Path, target: Path) -> None:
    """Replace target by new; the old index stays readable until the final rename."""
    old = target.with_name(f".{target.name}-old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def check_manifest(index_dir: Path, corpus: Corpus, model_id: str,
                   questions_sha256: str | None = None) -> Manifest:  # fmt: skip
    """Read the manifest; refuse an index built from another model, corpus or (if given) written questions."""
    if not (index_dir / MANIFEST).is_file():
        raise IndexMissingError(index_dir)
    manifest = Manifest.read(index_dir)
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatchError(index_dir, "format version", str(FORMAT_VERSION), str(manifest.format_version))
    if manifest.model_id != model_id:
        raise IndexMismatchError(index_dir, "embedding model", model_id, manifest.model_id)
    if manifest.corpus_checksum != corpus.checksum:
        raise IndexMismatchError(index_dir, "corpus checksum", corpus.checksum, manifest.corpus_checksum)
    if questions_sha256 is not None and manifest.questions_sha256 != questions_sha256:
        raise IndexMismatchError(index_dir, "written questions", questions_sha256, manifest.questions_sha256)
    return manifest


def _shipped_on_topic(model_id: str, document_model_id: str) -> OnTopicModel | None:
    """The trained on-topic model if it was fitted on `model_id`'s question vectors (and on the plain vectors
    of `document_model_id`, the index's document model, when it reads them)."""
    model = OnTopicModel.load() if DEFAULT_ON_TOPIC.is_file() else None
    if model is None or model.model_id != model_id or model.plain_model_id not in ("", document_model_id):
        log.warning("no on-topic model for %s: every message counts as a legal question", model_id)
        return None
    return model


def load_retriever(index_dir: Path, corpus: Corpus, embedder: QuestionSide, *,
                   reranker: Reranker | None = None,
                   on_topic: OnTopicModel | None = None,
                   questions: Sequence[WrittenQuestion] | None = None,
                   plain: QueryEncoder | None = None) -> Retriever:  # fmt: skip
    """Load a built index for the given corpus and model, ready to answer questions.

    `reranker`: reorders hybrid search's candidates; None = the trained weights of `indexing.rerank`.
    `on_topic`: tells legal questions from other messages; None = the trained weights of
    `indexing.on_topic` when they were fitted on this embedder's question vectors (else no model).
    `questions`: the written questions the index's question bank must hold (default: the shipped ones).
    `plain`: the document model's own question encoder, for the re-ranker (`indexing.plain_encoder`).
    """
    from indexing.rerank import LinearReranker, weights_for
    from indexing.retrieval import Retriever

    written = default_bank_questions({a.key for a in corpus.articles}) if questions is None else questions
    manifest = check_manifest(index_dir, corpus, embedder.model_id, questions_digest(written))
    if on_topic is None:
        on_topic = _shipped_on_topic(embedder.model_id, manifest.document_model_id)
    chunks = chunk_articles(corpus.articles)
    if tuple(c.id for c in chunks) != manifest.chunk_ids:
        raise IndexMismatchError(index_dir, "chunking", "current chunk ids", "other chunk ids")
    retriever = Retriever(
        corpus=corpus,
        chunks=chunks,
        vectors=VectorIndex.load(index_dir / VECTORS, index_dir / PENALTIES),
        keywords=KeywordIndex.load(index_dir / KEYWORDS),
        bank=QuestionBank.load(index_dir),
        embedder=embedder,
        reranker=reranker if reranker is not None else LinearReranker.load(weights_for(corpus.laws)),
        on_topic=on_topic,
    )
    retriever.use_plain_encoder(plain)
    return retriever
