"""Train the question side's LoRA adapter (indexing/data/query_adapter/) on the team's written questions.

The pairs are `indexing/data/training_questions.jsonl`: villager-style questions the team wrote for the
articles themselves, one to six per article, not taken from the development set (a test keeps every
one of them away from the development questions). Documents keep the base model: each question is
scored against the built index's frozen vectors minus their hubness penalties, as dense search ranks
them, and the loss is the softmax cross-entropy of the gold article's rows among all rows. The
settings below were chosen on the tuning split's figures; the held-out split is never read. Writes
the adapter and `training.json` (what it was trained on, with the tuning figures before and after).
Deterministic for a given machine and thread count.

Run from the repository root on an index built by the base model, then rebuild (`pufa build`: the
documents' vectors are reused) and retrain the re-ranker (scripts/train_reranker.py):
    PUFA_QUERY_ADAPTER=false .venv/bin/pufa build
    PUFA_QUERY_ADAPTER=false .venv/bin/python scripts/train_query_adapter.py [--out DIR]
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import common
import numpy as np
import torch

from bot.search.pipeline import open_corpus, open_embedder
from indexing.build import PENALTIES, VECTORS, Manifest
from indexing.evaluation import Question, mean_metrics, question_metrics
from indexing.query import expand_question
from indexing.query_adapter import default_adapter_dir
from indexing.question_bank import DEFAULT_QUESTIONS, load_written_questions
from knowledge.chunking import chunk_articles
from knowledge.corpus import Corpus

if TYPE_CHECKING:
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer

PAIRS = DEFAULT_QUESTIONS
RANK, ALPHA, DROPOUT = 16, 32, 0.1
TARGETS = r".*encoder\.layer\.\d+\..*(query|key|value|dense)$"  # every linear layer of the encoder
LR, EPOCHS, BATCH, TAU = 1e-3, 3, 32, 0.05  # chosen on the tuning split's dense figures
SEED, THREADS = 0, 2


@dataclass(frozen=True)
class Rows:
    """The index's frozen document side: vectors, hubness penalties, and each row's article."""

    vectors: torch.Tensor
    penalties: torch.Tensor
    article_of_row: torch.Tensor
    articles: list[str]

    @classmethod
    def load(cls, index_dir: Path, corpus: Corpus) -> Rows:
        chunks = chunk_articles(corpus.articles)
        if Manifest.read(index_dir).chunk_ids != tuple(c.id for c in chunks):
            raise SystemExit(f"{index_dir} was built from other chunks: run pufa build first")
        articles = sorted({c.article_key for c in chunks})
        number = {key: n for n, key in enumerate(articles)}
        vectors, penalties = (torch.from_numpy(np.load(index_dir / name)) for name in (VECTORS, PENALTIES))
        return cls(vectors, penalties, torch.tensor([number[c.article_key] for c in chunks]), articles)

    def scores(self, questions: torch.Tensor) -> torch.Tensor:
        """(questions, rows) cosine minus penalty, as dense search ranks rows."""
        return questions @ self.vectors.T - self.penalties

    def article_scores(self, questions: torch.Tensor) -> torch.Tensor:
        """(questions, articles): each article's best row."""
        rows = self.scores(questions)
        out = torch.full((len(rows), len(self.articles)), -9.0)
        return out.scatter_reduce(1, self.article_of_row.expand(len(rows), -1), rows, reduce="amax")


def training_pairs(articles: list[str]) -> list[tuple[str, int]]:
    """(question, article number in `articles`) for every pair whose article is in the index."""
    number = {key: n for n, key in enumerate(articles)}
    written = load_written_questions(PAIRS)
    return [(q.question, number[q.article_key]) for q in written if q.article_key in number]


class QuestionSide:
    """The sentence-transformers model whose encoder layers carry the adapter being trained."""

    def __init__(self, model: SentenceTransformer) -> None:
        self.model = model
        self.prompt = (getattr(model, "prompts", None) or {}).get("query", "")
        self._adapted: PeftModel | None = None

    def add_adapter(self) -> list[torch.nn.Parameter]:
        """Low-rank layers beside the encoder's linear ones (in place); returns the trainable parameters."""
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=DROPOUT, target_modules=TARGETS)
        self._adapted = get_peft_model(self.model[0].auto_model, config)  # type: ignore[arg-type]
        return [p for p in self.model.parameters() if p.requires_grad]

    def encode(self, questions: list[str], *, train: bool) -> torch.Tensor:
        """Unit vectors of the lexicon-expanded questions, as search embeds them."""
        self.model.train(train)
        features = self.model.tokenize([self.prompt + expand_question(q) for q in questions])
        with torch.set_grad_enabled(train):
            return self.model(features)["sentence_embedding"]

    def save(self, out: Path, base_model: str) -> None:
        """The adapter's two files (`indexing.query_adapter.ADAPTER_FILES`) in `out`."""
        if self._adapted is None:
            raise RuntimeError("no adapter to save: train first")
        out.mkdir(parents=True, exist_ok=True)
        # The model's id, not the local path of this machine's converted copy.
        self._adapted.peft_config["default"].base_model_name_or_path = base_model
        self._adapted.save_pretrained(str(out))
        (out / "README.md").unlink(missing_ok=True)  # PEFT's model-card template, empty here


def evaluate(side: QuestionSide, rows: Rows, questions: list[Question]) -> tuple[float, float]:
    """Dense recall@5 and MRR@10 by article."""
    vectors = torch.cat([side.encode([q.query for q in questions[i : i + 64]], train=False)
                         for i in range(0, len(questions), 64)])  # fmt: skip
    top = rows.article_scores(vectors).topk(10, dim=1).indices.tolist()
    metrics = mean_metrics(question_metrics([rows.articles[n] for n in ranked], question.gold)
                           for question, ranked in zip(questions, top, strict=True))  # fmt: skip
    return metrics["recall@5"], metrics["mrr@10"]


def train(side: QuestionSide, rows: Rows, pairs: list[tuple[str, int]]) -> None:
    params = side.add_adapter()
    optimiser = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
    steps = EPOCHS * len(pairs) // BATCH
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / warmup) * (steps - step) / steps)
    rng, started = random.Random(SEED), time.monotonic()
    order: list[int] = []
    for step in range(steps):
        if len(order) < BATCH:
            order = list(range(len(pairs)))
            rng.shuffle(order)
        batch = [pairs[order.pop()] for _ in range(BATCH)]
        scores = rows.scores(side.encode([q for q, _ in batch], train=True)) / TAU
        gold = rows.article_of_row[None, :] == torch.tensor([n for _, n in batch])[:, None]
        loss = (torch.logsumexp(scores, 1) - torch.logsumexp(scores.masked_fill(~gold, -1e9), 1)).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if (step + 1) % 20 == 0 or step + 1 == steps:
            elapsed = time.monotonic() - started
            print(f"step {step + 1}/{steps}  loss {loss.item():.3f}  {elapsed:.0f} s", flush=True)


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--out", type=Path, default=default_adapter_dir(), help="adapter directory")
    args = parser.parse_args()
    settings = common.settings(args)
    if settings.query_adapter:
        raise SystemExit("run with PUFA_QUERY_ADAPTER=false: the adapter is trained over the base model")
    torch.manual_seed(SEED)
    torch.set_num_threads(THREADS)
    corpus = open_corpus(settings)
    rows = Rows.load(settings.index_dir, corpus)
    embedder = open_embedder(settings)
    side = QuestionSide(embedder.model)
    tune = common.tune_questions()
    before = evaluate(side, rows, tune)
    print("tune dense recall@5 {:.3f}  MRR@10 {:.3f}  (base model)".format(*before))
    pairs = training_pairs(rows.articles)
    print(f"{len(pairs)} training pairs over {len({n for _, n in pairs})} articles")
    train(side, rows, pairs)
    after = evaluate(side, rows, tune)
    print("tune dense recall@5 {:.3f}  MRR@10 {:.3f}  (with the adapter)".format(*after))
    side.save(args.out, embedder.document_model_id)
    provenance = {
        "base_model": embedder.document_model_id,
        "pairs_file": f"indexing/data/{PAIRS.name}",
        # Questions appended later reach the question bank at the next build; the adapter, when retrained.
        "pairs_lines": len(PAIRS.read_bytes().splitlines()),
        "pairs_sha256": hashlib.sha256(PAIRS.read_bytes()).hexdigest(),
        "pairs": len(pairs),
        "settings": {"rank": RANK, "alpha": ALPHA, "dropout": DROPOUT, "lr": LR, "epochs": EPOCHS,
                     "batch": BATCH, "tau": TAU, "seed": SEED, "threads": THREADS},
        "chosen_on": "split=tune",
        "tune_dense_recall@5_mrr@10": {"base": [round(x, 4) for x in before],
                                       "adapted": [round(x, 4) for x in after]},
    }  # fmt: skip
    (args.out / "training.json").write_text(json.dumps(provenance, ensure_ascii=False, indent=1) + "\n",
                                            encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
