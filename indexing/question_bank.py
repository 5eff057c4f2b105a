"""The question bank: villager questions the team wrote for the articles, searched by meaning.

A question a villager asks is usually much closer to another villager's question about the same
trouble than to the statute's legal wording. The team wrote such questions for the articles
(`indexing/data/training_questions.jsonl`, which also trains the question adapter); the index keeps
their question vectors, and a new question ranks articles by how much of its nearest written
questions' weight falls on each (a softmax over the nearest neighbours, summed per article).
Measured with `pufa eval` (tune split): this ranking alone beats dense search over the articles
themselves, and the re-ranker combines both. A law without any written question (a 村规民约) is
represented by its articles' own texts (`indexing.build`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import faiss
import numpy as np

from indexing.bank_plain import BankPlain
from indexing.bank_words import BankWords

DEFAULT_QUESTIONS = Path(__file__).parent / "data" / "training_questions.jsonl"
# Real questions by non-lawyers (STARD's train split, MIT licence: stard_README.md). Those whose articles
# are all in the three laws join the bank: STARD, 5-fold CV with each fold's questions out of the bank
# and the re-ranker, recall@5 / MRR@10 0.634 / 0.588 → 0.657 / 0.610; dev held-out 0.750 / 0.651 →
# 0.753 / 0.665 (whole messages; `pufa eval` reports the default).
REAL_QUESTIONS = Path(__file__).parent / "data" / "stard_train.jsonl"
NEIGHBOURS = 100  # written questions weighed per asked question
# Softmax temperature over cosines. Tune split, 5-fold re-ranked recall@5 / MRR@10: 0.02 0.772 / 0.731,
# 0.03 0.783 / 0.733, 0.05 0.775 / 0.730, 0.08 0.777 / 0.725 (scripts/train_reranker.py).
TEMPERATURE = 0.03
# Questions read from the half-precision scan beyond NEIGHBOURS, then ranked in full precision: its
# cosines are off by less than 1e-3, far less than the gap between the 100th and the 120th neighbour.
SHORTLIST_SLACK = 20
VECTORS = "question_bank.npy"
PLAIN_VECTORS = "question_bank_plain.npy"  # the questions as asked, by the plain encoder (`indexing.bank_plain`)
REAL_MARK = "\treal"  # in the digest: an index made before real rows were marked is rebuilt
CARD_MARK = "\tcard"
KEYS = "question_bank.json"


class WrittenQuestion(NamedTuple):
    question: str
    article_key: str  # "<law>:<article number>"
    real: bool = False  # asked by a real person (STARD), not written by the team
    # A situation card's phrasing (bot/answers/cards.py): compared by meaning, but its words stay out of the
    # bank's word counts (`indexing.bank_words`; STARD 5-fold CV recall@5 / MRR@10 with them counted 0.692 /
    # 0.641, without 0.697 / 0.644, against 0.697 / 0.646 without the phrasings at all).
    card: bool = False


class QuestionFileError(ValueError):
    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")


def load_written_questions(path: Path = DEFAULT_QUESTIONS) -> list[WrittenQuestion]:
    """Every (question, article) pair of a JSONL file of {"law", "article", "question"} rows."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            row = json.loads(line)
            out.append(WrittenQuestion(str(row["question"]), f"{row['law']}:{int(row['article'])}"))
        except (ValueError, KeyError, TypeError) as exc:
            raise QuestionFileError(path, number, f"not a {{law, article, question}} row ({exc})") from exc
    return out


def load_real_questions(path: Path = REAL_QUESTIONS, within: Collection[str] | None = None) -> list[WrittenQuestion]:
    """One (question, article) pair per labelled article of each question (a STARD row:
    {"query", "gold": [{"law", "article"}], "three_laws"}) whose articles all lie `within` these article
    keys (the indexed corpus); by default, of the questions marked "three_laws". Others are left out."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            row = json.loads(line)
            pairs = [WrittenQuestion(str(row["query"]), f"{g['law']}:{int(g['article'])}", real=True)
                     for g in row["gold"]]  # fmt: skip
            kept = row["three_laws"] if within is None else all(q.article_key in within for q in pairs)
        except (ValueError, KeyError, TypeError) as exc:
            raise QuestionFileError(path, number, f"not a {{query, gold, three_laws}} row ({exc})") from exc
        out += pairs if kept and pairs else []
    return out


def default_bank_questions(within: Collection[str] | None = None) -> list[WrittenQuestion]:
    """What the question bank holds by default: the team's written questions and the real ones whose
    articles all lie `within` the corpus' article keys (default: every written question, the real ones of
    the three laws). A written question for an article the corpus lacks could only draw weight away from
    those it holds (the questions for the laws of village life, in a three-law deployment)."""
    written = load_written_questions()
    if within is not None:
        written = [q for q in written if q.article_key in within]
    return written + load_real_questions(within=within)


def questions_digest(questions: Sequence[WrittenQuestion]) -> str:
    """sha256 over the pairs, so an index knows which written questions it holds."""
    digest = hashlib.sha256()
    for q in questions:
        marks = (REAL_MARK if q.real else "") + (CARD_MARK if q.card else "")
        digest.update(f"{q.article_key}\t{q.question}{marks}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class BankMatch:
    """One article's part of the nearest written questions."""

    share: float  # its share of the neighbours' softmax weight, 0..1
    cosine: float  # cosine of its closest written question
    row: int  # that question's row in the bank


class Nearest(NamedTuple):
    """A query's nearest written questions: their rows, closest first, and their cosines."""

    rows: np.ndarray
    cosines: np.ndarray


class QuestionBank:
    """Written questions' vectors, row-aligned with their article keys."""

    def __init__(self, vectors: np.ndarray, keys: Sequence[str], texts: Sequence[str],
                 real: Sequence[bool] | None = None, card: Sequence[bool] | None = None,
                 plain_vectors: np.ndarray | None = None) -> None:  # fmt: skip
        """`real`: per row, whether a real person asked it; `card`: whether it is a situation card's
        phrasing (default: none); `plain_vectors`: the rows as asked, by the plain encoder (or none)."""
        real = [False] * len(keys) if real is None else real
        card = [False] * len(keys) if card is None else card
        plain_rows = len(keys) if plain_vectors is None else len(plain_vectors)
        if not len(vectors) == len(keys) == len(texts) == len(real) == len(card) == plain_rows:
            raise ValueError(f"question bank rows disagree: {len(vectors)} vectors, {len(keys)} keys, "
                             f"{len(texts)} texts, {len(real)} real flags, {len(card)} card flags, "
                             f"{plain_rows} plain vectors")  # fmt: skip
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.plain_vectors = None if plain_vectors is None else np.asarray(plain_vectors, dtype=np.float32)
        self.keys = tuple(keys)
        self.texts = tuple(texts)  # the questions as encoded (after the lexicon expansion)
        self.real = tuple(real)
        self.card = tuple(card)
        # How many real people's questions cite each article: the articles laypeople's troubles lead to
        # (违约责任, 相邻关系) are cited far more often than their neighbours, whatever the wording.
        self.citations = Counter(key for key, is_real in zip(self.keys, self.real, strict=True) if is_real)
        grouped: dict[str, list[int]] = {}
        for row, key in enumerate(self.keys):
            grouped.setdefault(key, []).append(row)
        self._rows_of = {key: np.asarray(rows) for key, rows in grouped.items()}
        self._names = tuple(grouped)  # the distinct keys, numbered for `matches`' vectorised sums
        number = {key: n for n, key in enumerate(self._names)}
        self._key_numbers = np.array([number[key] for key in self.keys], dtype=np.int64)
        self._shortlist = _half_precision_index(self.vectors) if len(self.vectors) else None

    def __len__(self) -> int:
        return len(self.keys)

    @cached_property
    def words(self) -> BankWords:
        """Each article's questions' words (made at the first hybrid search: 1 s for 8,000 questions)."""
        rows = [row for row, card in enumerate(self.card) if not card]
        return BankWords([self.keys[r] for r in rows], [self.texts[r] for r in rows])

    @cached_property
    def plain(self) -> BankPlain | None:
        """The rows by the plain encoder, article by article; None for a bank built without them."""
        return None if self.plain_vectors is None else BankPlain(self.plain_vectors, self.keys)

    def with_plain(self, plain_vectors: np.ndarray) -> QuestionBank:
        """This bank with its rows' plain vectors (row-aligned)."""
        return QuestionBank(self.vectors, self.keys, self.texts, self.real, self.card, plain_vectors)

    def plain_by_text(self) -> dict[str, np.ndarray]:
        """text as encoded → plain vector, for an incremental rebuild with the same plain encoder."""
        return {} if self.plain_vectors is None else dict(zip(self.texts, self.plain_vectors, strict=True))

    @classmethod
    def build(cls, questions: Sequence[WrittenQuestion], encode: Callable[[list[str]], np.ndarray],
              article_keys: set[str],
              reuse: dict[str, np.ndarray] | None = None) -> QuestionBank:  # fmt: skip
        """The bank of the written questions whose article is in `article_keys` (the indexed corpus).

        `encode`: question texts → unit vectors, as asked questions are encoded; `reuse`: text →
        vector from an earlier build with the same encoder.
        """
        kept = [q for q in questions if q.article_key in article_keys]
        reuse = reuse or {}
        todo = sorted({q.question for q in kept if q.question not in reuse})
        fresh = dict(zip(todo, encode(todo), strict=True)) if todo else {}
        dim = next(iter(fresh.values() or reuse.values()), np.empty(0)).shape[0]
        vectors = np.array([fresh.get(q.question, reuse.get(q.question)) for q in kept],
                           dtype=np.float32).reshape(len(kept), dim)  # fmt: skip
        return cls(vectors, [q.article_key for q in kept], [q.question for q in kept], [q.real for q in kept],
                   [q.card for q in kept])

    def nearest(self, query: np.ndarray) -> Nearest:
        """The NEIGHBOURS written questions closest to the query, closest first, with exact cosines.

        Scanning every float32 vector was the largest cost of a search under load: 7,474 × 384 floats,
        11 MB read from memory each time, 1.1 ms with the caches cold as under load. FAISS scans a
        half-precision copy instead (0.3 ms cold), and the few more questions than needed that it returns
        are scored again in full precision, so that the neighbours and their cosines are those of the full
        vectors (1 webhook worker, `pufa bench webhook`: 276 → 402 requests/s).
        """
        if self._shortlist is None:
            return Nearest(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
        query = np.ascontiguousarray(query, dtype=np.float32)
        _, found = self._shortlist.search(query.reshape(1, -1), min(NEIGHBOURS + SHORTLIST_SLACK, len(self)))
        rows = found[0][found[0] >= 0]
        cosines = self.vectors[rows] @ query
        order = np.lexsort((rows, -cosines))[:NEIGHBOURS]  # closest first; ties by row, as stored
        return Nearest(rows[order], cosines[order])

    def matches(self, nearest: Nearest, limit: int) -> dict[str, BankMatch]:
        """Up to `limit` articles, best first, by their share of the query's `nearest` written questions."""
        rows, cosines = nearest
        if not len(rows):
            return {}
        weights = np.exp((cosines - cosines[0]) / TEMPERATURE)
        weights /= weights.sum()
        # Each article's summed weight; its first (closest) row; best share first, ties by closeness.
        found, first, inverse = np.unique(self._key_numbers[rows], return_index=True, return_inverse=True)
        shares = np.bincount(inverse, weights=weights, minlength=len(found))
        ranked = np.lexsort((first, -shares))[:limit]
        return {
            self._names[found[i]]: BankMatch(float(shares[i]), float(cosines[first[i]]), int(rows[first[i]]))
            for i in ranked.tolist()
        }

    def best_cosines(self, query: np.ndarray, keys: Sequence[str]) -> dict[str, float]:
        """Each article's closest written question's cosine; articles without written questions left out."""
        present = [key for key in keys if key in self._rows_of]
        if not present:
            return {}
        groups = [self._rows_of[key] for key in present]
        cosines = self.vectors[np.concatenate(groups)] @ np.asarray(query, dtype=np.float32)
        starts = np.cumsum([0] + [len(rows) for rows in groups[:-1]])
        return dict(zip(present, np.maximum.reduceat(cosines, starts).tolist(), strict=True))

    def without(self, texts: Collection[str]) -> QuestionBank:
        """This bank less the rows whose text (as encoded) is one of `texts`: cross-validation searches
        a fold's questions without their own entries."""
        keep = [row for row, text in enumerate(self.texts) if text not in texts]
        if len(keep) == len(self):
            return self
        plain = None if self.plain_vectors is None else self.plain_vectors[keep]
        return QuestionBank(self.vectors[keep], [self.keys[r] for r in keep], [self.texts[r] for r in keep],
                            [self.real[r] for r in keep], [self.card[r] for r in keep], plain)

    def save(self, directory: Path) -> None:
        np.save(directory / VECTORS, self.vectors, allow_pickle=False)
        if self.plain_vectors is not None:
            np.save(directory / PLAIN_VECTORS, self.plain_vectors, allow_pickle=False)
        rows = [{"article": key, "text": text, "real": real, **({"card": True} if card else {})}
                for key, text, real, card in zip(self.keys, self.texts, self.real, self.card, strict=True)]
        (directory / KEYS).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> QuestionBank:
        rows = json.loads((directory / KEYS).read_text(encoding="utf-8"))
        vectors = np.load(directory / VECTORS, allow_pickle=False)
        plain_path = directory / PLAIN_VECTORS
        plain = np.load(plain_path, allow_pickle=False) if plain_path.is_file() else None
        return cls(vectors, [r["article"] for r in rows], [r["text"] for r in rows],
                   [bool(r.get("real", False)) for r in rows], [bool(r.get("card", False)) for r in rows], plain)

    def vectors_by_text(self) -> dict[str, np.ndarray]:
        """text as encoded → vector, for an incremental rebuild with the same encoder."""
        return dict(zip(self.texts, self.vectors, strict=True))


def _half_precision_index(vectors: np.ndarray) -> faiss.Index:
    kind, metric = faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    index = faiss.IndexScalarQuantizer(vectors.shape[1], kind, metric)
    index.add(vectors)
    return index
