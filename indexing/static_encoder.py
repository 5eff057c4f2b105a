"""The serving question encoder: one learned vector per token, averaged; no transformer at question time.

The webhook must answer hundreds of villagers a second on 2 cores, and the transformer question encoder
(`indexing.onnx_encoder`, int8) costs about 20 ms of CPU per question, more than everything else in a
request together. This encoder is a distillation of it (scripts/train_static_encoder.py): a table of
token vectors, started from each token's own vector under the adapted model and trained so that their
weighted mean lands where the adapted model puts whole questions. It costs about 0.15 ms per question
and, with the question bank and the re-ranker, retrieves as well as the model it was distilled from
(held-out and tune figures in the table's `static.json`). Documents keep the transformer's vectors.

The table holds the model's CJK tokens and every token of the training texts and the statutes; other
tokens (rare Latin words, emoji) carry nothing, as stop words would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

TABLE_FILE = "table.npz"
MANIFEST_FILE = "static.json"


class StaticTableError(ValueError):
    """The token table is missing, malformed, or made for another model."""


def default_table_dir() -> Path:
    """The table shipped for the bundled model with the shipped question adapter."""
    return Path(str(resources.files("indexing").joinpath("data", "query_static")))


@dataclass(frozen=True)
class TokenTable:
    """Token id → weighted vector: a question's vector is normalise(Σ vectors / Σ weights + bias)."""

    token_ids: np.ndarray  # (rows,) int64, the tokenizer's ids
    vectors: np.ndarray  # (rows, dim) float32, each token's vector already times its weight
    weights: np.ndarray  # (rows,) float32, > 0
    bias: np.ndarray  # (dim,) float32

    def save(self, out_dir: Path, manifest: dict[str, object]) -> None:
        """Vectors as int8 with one scale per row (a quarter of float32; cosine to float ≥ 0.9999)."""
        scales = np.abs(self.vectors).max(axis=1) / 127.0
        scales[scales == 0] = 1.0
        quantised = np.round(self.vectors / scales[:, None]).astype(np.int8)
        out_dir.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            out_dir / TABLE_FILE, token_ids=self.token_ids.astype(np.int32), vectors=quantised,
            scales=scales.astype(np.float32), weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
        )
        (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n",
                                             encoding="utf-8")  # fmt: skip

    @classmethod
    def load(cls, table_dir: Path) -> TokenTable:
        try:
            with np.load(table_dir / TABLE_FILE, allow_pickle=False) as data:
                vectors = data["vectors"].astype(np.float32) * data["scales"][:, None]
                table = cls(data["token_ids"].astype(np.int64), vectors, data["weights"], data["bias"])
        except (OSError, KeyError, ValueError) as exc:
            raise StaticTableError(f"cannot read the token table in {table_dir}: {exc}") from exc
        rows = len(table.token_ids)
        if table.vectors.shape != (rows, len(table.bias)) or table.weights.shape != (rows,):
            raise StaticTableError(f"the token table in {table_dir} has inconsistent shapes")
        return table


def read_manifest(table_dir: Path) -> dict[str, object] | None:
    try:
        data = json.loads((table_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def table_id(table_dir: Path) -> str:
    """A short name that changes whenever the table does: static@<sha256 prefix>."""
    with (table_dir / TABLE_FILE).open("rb") as handle:
        return f"static@{hashlib.file_digest(handle, 'sha256').hexdigest()[:12]}"


def plain_tokenizer(tokenizer: Tokenizer) -> Tokenizer:
    """A copy of the model's tokenizer that neither pads nor truncates.

    transformers leaves padding switched on in the tokenizer it wraps after a padded call, and pad
    tokens are not words; nor should a long message lose its end.
    """
    from tokenizers import Tokenizer

    return _unpadded(Tokenizer.from_str(tokenizer.to_str()))


def load_plain_tokenizer(path: Path) -> Tokenizer:
    """A model's tokenizer from its tokenizer.json, neither padding nor truncating (as `plain_tokenizer`):
    the token table's, and the ONNX encoders', which pad and cut for themselves."""
    from tokenizers import Tokenizer

    return _unpadded(Tokenizer.from_file(str(path)))


def _unpadded(tokenizer: Tokenizer) -> Tokenizer:
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


class StaticQueryEncoder:
    """Texts → unit vectors from a `TokenTable`; thread-safe, pure NumPy after tokenisation."""

    def __init__(self, table: TokenTable, tokenizer: Tokenizer) -> None:
        """`tokenizer`: one that neither pads nor truncates, not shared with transformers
        (`plain_tokenizer`)."""
        self._table = table
        self._tokenizer = tokenizer
        # Ids outside the table map to the extra last row: a zero vector of zero weight.
        size = max(int(table.token_ids.max(initial=0)) + 1, tokenizer.get_vocab_size())
        self._row_of = np.full(size, len(table.token_ids), dtype=np.int64)
        self._row_of[table.token_ids] = np.arange(len(table.token_ids))
        self._vectors = np.vstack([table.vectors, np.zeros((1, table.vectors.shape[1]), np.float32)])
        self._weights = np.append(table.weights, np.float32(0.0))
        self.dim = int(table.vectors.shape[1])

    @property
    def tokenizer(self) -> Tokenizer:
        """Its tokenizer, which neither pads nor truncates: other encoders of the model may share it."""
        return self._tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors (the bias alone for a text with no known token)."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        for n, encoding in enumerate(encodings):
            rows = self._row_of[np.asarray(encoding.ids, dtype=np.int64)]
            total = float(self._weights[rows].sum())
            pooled = self._vectors[rows].sum(axis=0) / total if total > 0 else 0.0
            out[n] = pooled + self._table.bias
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
