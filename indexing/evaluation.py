"""Retrieval evaluation: recall@k, hit@k, MRR@10 and nDCG@10 (binary relevance) per retriever."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

KS = (1, 3, 5, 10, 20)
RETRIEVERS = ("hybrid", "bm25", "dense", "bank")


class QuestionFileError(ValueError):
    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}, line {line}: {reason}")


@dataclass(frozen=True, slots=True)
class Question:
    query: str
    gold: frozenset[str]  # Article.key values: "中华人民共和国民法典:1079"
    split: str | None = None  # "tune" / "heldout" where the file says so
    line: int = 0  # where it stands in its file


class Articles(Protocol):
    """What a question file is checked against: the corpus (`knowledge.corpus.Corpus`)."""

    @property
    def laws(self) -> tuple[str, ...]: ...

    def get(self, law: str, number: int) -> object | None: ...


@dataclass(frozen=True, slots=True)
class QuestionSet:
    questions: list[Question]
    # Rows marked "three_laws": false (STARD's questions whose golds lie outside 民法典 / 宪法 /
    # 人民调解法): left out, and counted so that a report says how many.
    skipped: int = 0


def load_questions(path: Path, corpus: Articles | None = None) -> list[Question]:
    """`read_questions(path, corpus).questions`."""
    return read_questions(path, corpus).questions


def read_questions(path: Path, corpus: Articles | None = None) -> QuestionSet:
    """Read a JSON Lines file of {"query", "gold": [{"law", "article"[, "article_sub"]}]}; other keys
    are ignored, except "split" (kept) and "three_laws": false (a row that needs other laws than the three:
    kept when the corpus holds all its articles, as a township's 19 laws often do; else skipped and counted).

    With a corpus, every gold of every kept row must be one of its articles: a file naming an unknown
    law or article is refused with its line number, since its figures would silently count misses.
    """
    questions, skipped = [], 0
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            golds = [_gold(g) for g in item["gold"]]
            query = str(item["query"])
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise QuestionFileError(path, n, f"expected {{'query': ..., 'gold': [{{'law': ..., 'article': N}}]}} "
                                              f"({exc.__class__.__name__}: {exc})") from exc
        if not golds:
            raise QuestionFileError(path, n, "'gold' is empty")
        if item.get("three_laws") is False and (corpus is None or not _all_in(golds, corpus)):
            skipped += 1
            continue
        if corpus is not None:
            _check_golds(path, n, golds, corpus)
        gold = frozenset(f"{law}:{number}" + (f"之{sub}" if sub else "") for law, number, sub in golds)
        questions.append(Question(query=query, gold=gold, split=item.get("split"), line=n))
    if not questions:
        raise QuestionFileError(path, 0, "no questions in the file")
    return QuestionSet(questions, skipped)


def _gold(item: dict[str, object]) -> tuple[str, int, int | None]:
    sub = item.get("article_sub")
    return str(item["law"]), int(item["article"]), None if sub is None else int(sub)  # type: ignore[call-overload]


def _all_in(golds: list[tuple[str, int, int | None]], corpus: Articles) -> bool:
    return all(law in corpus.laws and sub is None and corpus.get(law, number) is not None
               for law, number, sub in golds)  # fmt: skip


def _check_golds(path: Path, line: int, golds: list[tuple[str, int, int | None]], corpus: Articles) -> None:
    for law, number, sub in golds:
        if law not in corpus.laws:
            raise QuestionFileError(path, line, f"unknown law {law!r} (the corpus has {', '.join(corpus.laws)})")
        if sub is not None or corpus.get(law, number) is None:
            name = f"article {number}" + (f"之{sub}" if sub else "")
            raise QuestionFileError(path, line, f"{law} has no {name} in the corpus")


def question_metrics(ranked: Sequence[str], gold: frozenset[str]) -> dict[str, float]:
    """Metrics of one ranked list of article keys against its gold set."""
    out: dict[str, float] = {}
    for k in KS:
        found = len(gold.intersection(ranked[:k]))
        out[f"recall@{k}"] = found / len(gold)
        out[f"hit@{k}"] = float(found > 0)
    first = next((i for i, key in enumerate(ranked[:10], start=1) if key in gold), None)
    out["mrr@10"] = 1.0 / first if first else 0.0
    dcg = sum(1.0 / math.log2(i + 1) for i, key in enumerate(ranked[:10], start=1) if key in gold)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(gold), 10) + 1))
    out["ndcg@10"] = dcg / ideal
    return out


def mean_metrics(per_question: Iterable[dict[str, float]]) -> dict[str, float]:
    rows = list(per_question)
    return {name: round(sum(r[name] for r in rows) / len(rows), 4) for name in rows[0]} if rows else {}


def evaluate(questions: Sequence[Question], search: Callable[[str, str, int], list[str]],
             retrievers: Sequence[str] = RETRIEVERS) -> dict[str, object]:
    """search(query, retriever, k) → ranked article keys. Returns {"n": N, "retrievers": {name: metrics}}."""
    depth = max(KS)
    results = {
        name: mean_metrics(question_metrics(search(q.query, name, depth), q.gold) for q in questions)
        for name in retrievers
    }
    return {"n": len(questions), "retrievers": results}
