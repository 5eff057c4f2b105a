"""Distil the question encoder into a token table (indexing/data/query_static/, `indexing.static_encoder`).

Teacher: the question side the index is built for (the bundled model with the query adapter merged), in
float32. Texts it encodes: the team's written questions, one clause of each longer one, the non-legal
messages, and sentences of the statutes, lexicon-expanded as search expands questions (the development
set is never read for training). Each table row starts as the teacher's vector of its token alone; rows,
token weights and a bias are then trained (Adam) so that a text's weighted mean vector matches the
teacher's vector of the whole text, and pairs of texts keep the teacher's cosine to each other (the
question bank compares questions with questions). Prints the cosine to the teacher on texts kept out of
training after each epoch.

Run from the repository root after training the query adapter (about 8 min on 2 cores, most of it the
teacher encoding the texts and tokens):
    .venv/bin/python scripts/train_static_encoder.py [--data-dir data] [--out indexing/data/query_static]
Then rebuild the index (the bank is re-encoded) and refit scripts/train_reranker.py and train_on_topic.py.
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import common
import numpy as np
import torch

from bot.search.pipeline import open_corpus, open_embedder
from indexing.embedder import Embedder
from indexing.query import expand_question
from indexing.question_bank import DEFAULT_QUESTIONS, load_written_questions
from indexing.static_encoder import TokenTable, default_table_dir, plain_tokenizer

NOT_LEGAL = Path("indexing/data/non_legal_messages.jsonl")
SENTENCES = 9000  # statute sentences among the texts, at most
KEPT_OUT = 500  # texts never trained on, for the cosine printed each epoch
EPOCHS = 3  # cosine on kept-out texts peaks at 2–3 epochs (0.895), then falls as the table overfits
BATCH = 128
LR_VECTORS, LR_WEIGHTS = 2e-3, 1e-2
PAIR_WEIGHT = 1.0  # the in-batch cosine-matrix term, against 1 for the cosine to the teacher
_CLAUSES = re.compile(r"[，,。？?！!；;]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def training_texts(statute_sentences: list[str], rng: random.Random) -> list[str]:
    """Distinct texts the teacher encodes, lexicon-expanded as asked questions are."""
    written = [q.question for q in load_written_questions(DEFAULT_QUESTIONS)]
    other = [json.loads(line)["text"] for line in NOT_LEGAL.read_text(encoding="utf-8").splitlines() if line]
    clauses = []
    for question in written:
        parts = [part for part in _CLAUSES.split(question) if len(part) >= 6]
        if len(parts) > 1:
            clauses.append(rng.choice(parts))
    sentences = rng.sample(statute_sentences, min(SENTENCES, len(statute_sentences)))
    texts = [expand_question(t).strip() for t in written + other + clauses] + sentences
    return list(dict.fromkeys(t for t in texts if len(t) >= 4))


def statute_sentences(paragraphs: list[str]) -> list[str]:
    return [s for p in paragraphs for s in re.split(r"[。；]", p) if 8 <= len(s) <= 80]


def table_rows(tokenizer, texts: list[str], extra: list[str]) -> np.ndarray:  # noqa: ANN001
    """Token ids the table keeps: every CJK token of the vocabulary and every token of the given texts."""
    vocab = tokenizer.get_vocab()
    seen = {i for e in tokenizer.encode_batch(texts + extra, add_special_tokens=False) for i in e.ids}
    return np.array(sorted({i for token, i in vocab.items() if _CJK.search(token)} | seen), dtype=np.int64)


def teacher(embedder: Embedder, texts: list[str], what: str) -> np.ndarray:
    started, parts = time.monotonic(), []
    for start in range(0, len(texts), 256):
        parts.append(embedder.encode_queries(texts[start : start + 256], reference=True))
        print(f"\r{what}: {start + len(parts[-1])}/{len(texts)} ({time.monotonic() - started:.0f} s)",
              end="", flush=True)  # fmt: skip
    print()
    return np.concatenate(parts)


class Student(torch.nn.Module):
    """normalise(Σ wᵢ·eᵢ / Σ wᵢ + b) over a text's tokens: what `StaticQueryEncoder` computes."""

    def __init__(self, start: torch.Tensor) -> None:
        super().__init__()
        self.vectors = torch.nn.Parameter(start.clone())
        self.log_weights = torch.nn.Parameter(torch.zeros(len(start)))
        self.bias = torch.nn.Parameter(torch.zeros(start.shape[1]))

    def forward(self, rows: list[list[int]]) -> torch.Tensor:
        flat = torch.tensor([r for text in rows for r in text], dtype=torch.long)
        offsets = torch.tensor(np.cumsum([0] + [len(text) for text in rows[:-1]]), dtype=torch.long)
        weights = torch.exp(self.log_weights[flat])
        bag = torch.nn.functional.embedding_bag(flat, self.vectors, offsets, mode="sum",
                                                per_sample_weights=weights)
        total = torch.zeros(len(rows)).index_add_(0, _text_of(rows), weights)
        return torch.nn.functional.normalize(bag / total[:, None] + self.bias, dim=-1)

    def table(self, token_ids: np.ndarray) -> TokenTable:
        with torch.no_grad():
            weights = torch.exp(self.log_weights)
            return TokenTable(token_ids, (self.vectors * weights[:, None]).numpy(), weights.numpy(),
                              self.bias.numpy().copy())  # fmt: skip


def _text_of(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor([n for n, text in enumerate(rows) for _ in text], dtype=torch.long)


def train(student: Student, rows: list[list[int]], targets: torch.Tensor, kept_out: np.ndarray,
          training: np.ndarray) -> float:  # fmt: skip
    optimiser = torch.optim.Adam([
        {"params": [student.vectors], "lr": LR_VECTORS},
        {"params": [student.log_weights, student.bias], "lr": LR_WEIGHTS},
    ])
    rng = np.random.default_rng(0)
    cosine = _cosine(student, rows, targets, kept_out)
    print(f"kept-out cosine to the teacher before training: {cosine:.4f}")
    for epoch in range(1, EPOCHS + 1):
        rng.shuffle(training)
        for start in range(0, len(training), BATCH):
            batch = training[start : start + BATCH]
            out, want = student([rows[i] for i in batch]), targets[batch]
            pairs = ((out @ out.T - want @ want.T) ** 2).mean()
            loss = (1 - (out * want).sum(-1)).mean() + PAIR_WEIGHT * pairs
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        cosine = _cosine(student, rows, targets, kept_out)
        print(f"epoch {epoch}: kept-out cosine to the teacher {cosine:.4f}", flush=True)
    return cosine


def _cosine(student: Student, rows: list[list[int]], targets: torch.Tensor, texts: np.ndarray) -> float:
    with torch.no_grad():
        return float((student([rows[i] for i in texts]) * targets[texts]).sum(-1).mean())


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--out", type=Path, default=default_table_dir())
    args = parser.parse_args()
    torch.manual_seed(0)
    settings = common.settings(args)
    corpus, embedder = open_corpus(settings), open_embedder(settings)
    tokenizer = plain_tokenizer(embedder.query_model.tokenizer.backend_tokenizer)
    articles = ["".join(a.paragraphs) for a in corpus.articles]
    texts = training_texts(statute_sentences(articles), random.Random(0))
    token_ids = table_rows(tokenizer, texts, articles)
    row_of = {int(token): row for row, token in enumerate(token_ids)}
    vocab = {i: token for token, i in tokenizer.get_vocab().items()}
    # A token's own text, without SentencePiece's word-start mark, as the teacher's input.
    start = teacher(embedder, [vocab[int(i)].replace("▁", " ").strip() or vocab[int(i)] for i in token_ids],
                    "tokens")  # fmt: skip
    targets = torch.from_numpy(teacher(embedder, texts, "texts"))
    rows = [[row_of[i] for i in e.ids] for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    usable = np.array([n for n, text_rows in enumerate(rows) if text_rows])
    order = np.random.default_rng(0).permutation(usable)
    student = Student(torch.from_numpy(start))
    cosine = train(student, rows, targets, order[:KEPT_OUT], order[KEPT_OUT:])
    student.table(token_ids).save(args.out, {
        "teacher": embedder.model_id,
        "rows": len(token_ids),
        "texts": len(texts),
        "trained_on": f"{DEFAULT_QUESTIONS.name} ({sum(1 for _ in load_written_questions())} questions), "
                      f"{NOT_LEGAL.name}, statute sentences",
        "kept_out_cosine": round(cosine, 4),
        "epochs": EPOCHS,
    })  # fmt: skip
    print(f"wrote {args.out} ({len(token_ids)} tokens)")


if __name__ == "__main__":
    main()
