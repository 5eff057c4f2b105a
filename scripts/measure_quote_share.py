"""Measure when a second or third article is quoted (bot/answers/composer.py, QUOTE_SHARE).

A reply quotes the first relevant article, and the second and third only when their re-ranker score
reaches a share of the first's; the others go to "更多". On the dev set's tune split and STARD's train
split (3-law questions), for each share: gold recall (questions with a gold article among the quoted
ones), the mean number quoted, and the share of quoted articles that are not gold ("wrong"; STARD's gold
is a minimal set, so some of these also apply). The same for the hits' dense strength, for comparison.

Run from the repository root, with the index built (`pufa build`):
    .venv/bin/python scripts/measure_quote_share.py [--data-dir data] [--stard PATH]
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import common

from bot.answers.composer import MIN_CONFIDENCE, RELATED_SHARE
from bot.answers.confidence import confidence, hit_strength
from bot.search.pipeline import open_retriever
from bot.search.retrieval import RETRIEVAL_K
from indexing.cross_validation import bank_without
from indexing.evaluation import Question, read_questions
from indexing.retrieval import Hit, Retriever

# The repository's copy. Its questions are in the default question bank and the re-ranker was fitted on
# them: the bank is emptied of them while they are measured, but the STARD figures stay optimistic; the dev
# tune split is the one to choose by.
STARD = Path("indexing/data/stard_train.jsonl")
SHARES = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
Score = Callable[[Hit], float]


def answered(retriever: Retriever, questions: list[Question]) -> list[tuple[Question, list[Hit]]]:
    """The questions the composer answers, with their relevant hits in retrieval order (as it keeps them)."""
    kept = []
    for q in questions:
        hits = retriever.search(q.query, k=RETRIEVAL_K)
        relevant = [h for h in hits if hit_strength(h) >= MIN_CONFIDENCE * RELATED_SHARE]
        if confidence(hits) >= MIN_CONFIDENCE and relevant:
            kept.append((q, relevant))
    return kept


def report(name: str, rows: list[tuple[Question, list[Hit]]], score: Score) -> None:
    print(f"\n{name}: {len(rows)} answered questions")
    print("share  gold-recall  quoted/reply  wrong-quoted")
    for share in SHARES:
        found = quoted = wrong = 0
        for q, hits in rows:
            top = score(hits[0])
            chosen = [hits[0], *(h for h in hits[1:3] if top > 0 and score(h) >= share * top)]
            keys = {h.article.key for h in chosen}
            found += bool(keys & q.gold)
            quoted += len(keys)
            wrong += len(keys - q.gold)
        print(f"{share:5.2f}  {found / len(rows):11.1%}  {quoted / len(rows):12.2f}  {wrong / quoted:12.1%}")


def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--stard", type=Path, default=STARD)
    args = p.parse_args()
    retriever = open_retriever(common.settings(args), answering_only=True)
    sets = [("dev tune", common.tune_questions())]
    if args.stard.exists():
        sets.append(("STARD train (3 laws)", read_questions(args.stard).questions))
    for name, questions in sets:
        with bank_without(retriever, questions):  # the bank holds the real questions themselves
            rows = answered(retriever, questions)
        report(f"{name}, re-ranker score", rows, lambda h: h.score)
        report(f"{name}, dense strength", rows, hit_strength)


if __name__ == "__main__":
    main()
