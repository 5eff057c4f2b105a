"""Whether a message is a legal question at all: a logistic model over its question vectors.

The fine-tuned question side (`indexing.query_adapter`) pulls everyday messages that share a subject
with some article ("狗不吃东西怎么办", "高铁票怎么在手机上买") close to that article, so the retrieval
margin alone no longer tells them from legal questions. A linear model over the question vector does:
fitted by `scripts/train_on_topic.py` on the team's legal questions
(`indexing/data/training_questions.jsonl`) and real people's (`indexing/data/stard_train.jsonl`) against
everyday messages that no statute answers (`indexing/data/non_legal_messages.jsonl`). It reads the question
vector and, beside it, the plain encoder's (`indexing.plain_encoder`), which knows real people's wording
better. 5-fold CV (real questions and everyday messages dealt into folds), with the composer's gates as
served (`bot.answers.composer`: MIN_LEGAL, the dense margin, RERANKER_VOUCH): everyday messages answered
8.6 % → 6.3 %, the dev tune split 97.0 % → 96.7 %, STARD's three-law questions 94.1 % → 94.1 % (before:
the question vector alone, written questions only, at 0.2). Its weights fit one question encoder and
one plain encoder only, named in the file.
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
    """P(legal question | question vector, plain vector) = logistic([vector, plain] · weights + bias)."""

    weights: np.ndarray  # (dim,) float64, or (dim + plain dim,) when it reads the plain vector too
    bias: float
    model_id: str  # `Embedder.model_id` of the question vectors it was fitted on
    trained_on: str = ""  # provenance, for people
    plain_model_id: str = ""  # the plain encoder's model (`Embedder.document_model_id`); "": reads none

    def probability(self, vector: np.ndarray, plain: np.ndarray | None = None) -> float:
        """`plain`: the question's plain vector, required when the model reads one."""
        if self.plain_model_id:
            if plain is None:
                raise ValueError("this on-topic model reads the plain encoder's vector too")
            vector = np.concatenate([vector, plain])
        return 1.0 / (1.0 + math.exp(-(float(np.dot(vector, self.weights)) + self.bias)))

    def save(self, path: Path) -> None:
        data = {"model_id": self.model_id, "plain_model_id": self.plain_model_id, "trained_on": self.trained_on,
                "bias": self.bias, "weights": [round(float(w), 6) for w in self.weights]}  # fmt: skip
        path.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = DEFAULT_WEIGHTS) -> OnTopicModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(np.asarray(data["weights"], dtype=np.float64), float(data["bias"]), str(data["model_id"]),
                   str(data.get("trained_on", "")), str(data.get("plain_model_id", "")))  # fmt: skip
