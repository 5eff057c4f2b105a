"""Whether a message is a legal question at all: a logistic model over its question vector.

The fine-tuned question side (`indexing.query_adapter`) pulls everyday messages that share a subject
with some article ("狗不吃东西怎么办", "高铁票怎么在手机上买") close to that article, so the retrieval
margin alone no longer tells them from legal questions. A linear model over the question vector does:
fitted by `scripts/train_on_topic.py` on the team's legal questions
(`indexing/data/training_questions.jsonl`) against everyday messages that no statute answers
(`indexing/data/non_legal_messages.jsonl`). Its weights fit one question encoder only, named in the file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_WEIGHTS = Path(__file__).parent / "data" / "on_topic.json"


@dataclass(frozen=True)
class OnTopicModel:
    """P(legal question | question vector) = logistic(vector · weights + bias)."""

    weights: np.ndarray  # (dim,) float64
    bias: float
    model_id: str  # `Embedder.model_id` of the question vectors it was fitted on
    trained_on: str = ""  # provenance, for people

    def probability(self, vector: np.ndarray) -> float:
        return 1.0 / (1.0 + math.exp(-(float(np.dot(vector, self.weights)) + self.bias)))

    def save(self, path: Path) -> None:
        data = {"model_id": self.model_id, "trained_on": self.trained_on, "bias": self.bias,
                "weights": [round(float(w), 6) for w in self.weights]}  # fmt: skip
        path.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = DEFAULT_WEIGHTS) -> OnTopicModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(np.asarray(data["weights"], dtype=np.float64), float(data["bias"]), str(data["model_id"]),
                   str(data.get("trained_on", "")))  # fmt: skip
