"""Measure the similarity threshold above which the bot reuses a curated answer (bot/conversation/curated_match.py).

Pairs of questions from the 'tune' split of the development set (the held-out split is never used):
same gold article set → the curated answer of one should serve the other; disjoint gold sets → it must
not. Questions whose gold sets merely overlap are left out. Cosine is between `Retriever.embed_question`
vectors, exactly what the matcher compares.

Run from the repository root, with the index built (`pufa build`):
    .venv/bin/python scripts/measure_curated_threshold.py [--data-dir data]
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

from itertools import combinations

import common
import numpy as np

from bot.search.pipeline import open_retriever
from indexing.evaluation import Question

THRESHOLDS = (0.90, 0.92, 0.94, 0.95, 0.955, 0.96, 0.965, 0.97, 0.975, 0.98)


def pair_labels(questions: list[Question]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(same-gold pairs, disjoint-gold pairs) as index pairs."""
    same, disjoint = [], []
    for i, j in combinations(range(len(questions)), 2):
        a, b = questions[i].gold, questions[j].gold
        if a == b:
            same.append((i, j))
        elif not a & b:
            disjoint.append((i, j))
    return same, disjoint


def report(similarity: np.ndarray, same: list[tuple[int, int]], disjoint: list[tuple[int, int]]) -> None:
    pos = np.array([similarity[i, j] for i, j in same])
    neg = np.array([similarity[i, j] for i, j in disjoint])
    print(f"pairs: {len(pos)} same gold set, {len(neg)} disjoint gold sets")
    print(
        f"cosine same: median {np.median(pos):.3f}, max {pos.max():.3f}; "
        f"disjoint: median {np.median(neg):.3f}, 99.9th percentile {np.quantile(neg, 0.999):.3f}, "
        f"max {neg.max():.3f}"
    )
    print("threshold  matched-same  recall  false-matches  false-rate  precision")
    for t in THRESHOLDS:
        tp, fp = int((pos >= t).sum()), int((neg >= t).sum())
        precision = tp / (tp + fp) if tp + fp else float("nan")
        print(f"{t:9.3f}  {tp:12d}  {tp / len(pos):6.3f}  {fp:13d}  {fp / len(neg):10.5f}  {precision:9.3f}")


def report_bank(similarity: np.ndarray, questions: list[Question]) -> None:
    """Every question asked against all the others as curated answers: is its best match right?"""
    others = similarity - 2.0 * np.eye(len(questions))  # a question never matches itself
    best = others.argmax(axis=1)
    print(f"as a bank of {len(questions) - 1} curated answers, each question's best match:")
    print("threshold  matched  same-gold  disjoint-gold(wrong)  overlapping")
    for t in THRESHOLDS:
        hits = [(i, int(j)) for i, j in enumerate(best) if others[i, j] >= t]
        right = sum(questions[i].gold == questions[j].gold for i, j in hits)
        wrong = sum(not questions[i].gold & questions[j].gold for i, j in hits)
        print(f"{t:9.3f}  {len(hits):7d}  {right:9d}  {wrong:20d}  {len(hits) - right - wrong:11d}")


def main() -> None:
    args = common.parser(__doc__).parse_args()
    settings = common.settings(args)
    retriever = open_retriever(settings)
    questions = common.tune_questions()
    vectors = np.stack([retriever.embed_question(q.query) for q in questions])
    same, disjoint = pair_labels(questions)
    print(f"{len(questions)} 'tune' questions from {common.SOURCE}")
    similarity = vectors @ vectors.T
    report(similarity, same, disjoint)
    report_bank(similarity, questions)


if __name__ == "__main__":
    main()
