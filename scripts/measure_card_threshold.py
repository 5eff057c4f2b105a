"""Measure the similarity above which a question gets a situation card (bot/conversation/card_match.py).

Questions no card was written from: the dev set's tune split (tests/data/dev_questions.jsonl, and the village
laws' tests/data/dev_questions_village_laws.jsonl when the corpus holds them; the held-out splits are never
used) and STARD's train split (indexing/data/stard_train.jsonl, the rows whose articles the corpus holds). For
each question the matcher's candidate is taken as the bot takes it (`CardMatcher.candidate`: the closest
card whose first article is retrieval's first); it is right when the card's articles meet the question's
gold articles. Precision: the share right among the questions matched at a threshold; coverage: the
share matched. For comparison, the closest card without the retrieval condition.

Run from the repository root, with the index built (`pufa build`):
    .venv/bin/python scripts/measure_card_threshold.py [--data-dir data] [--stard PATH] [--show 0.92]
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

from pathlib import Path

import common
import numpy as np

from bot.conversation.card_match import CardMatch, CardMatcher
from bot.search.pipeline import open_retriever
from bot.search.retrieval import RETRIEVAL_K
from indexing.cross_validation import bank_without
from indexing.evaluation import Question, read_questions
from indexing.retrieval import Retriever

# The repository's copy. Its questions are in the default question bank and the re-ranker was fitted on
# them: the bank is emptied of them while they are measured, but the STARD figures stay optimistic; the dev
# tune split is the one to choose by.
STARD = Path("indexing/data/stard_train.jsonl")
THRESHOLDS = (0.80, 0.84, 0.86, 0.88, 0.90, 0.91, 0.92, 0.93, 0.94, 0.95)
Picked = list[CardMatch | None]


def pick(retriever: Retriever, matcher: CardMatcher, questions: list[Question]) -> tuple[Picked, Picked]:
    """(the matcher's candidate, the closest card regardless of retrieval) for every question."""
    guided: Picked = []
    closest: Picked = []
    for q in questions:
        vector = retriever.embed_question(q.query)
        hits = retriever.search(q.query, k=RETRIEVAL_K, query_vector=vector)
        guided.append(matcher.candidate(vector, hits))
        sims = matcher.similarities(vector)
        best = int(np.argmax(sims))
        closest.append(CardMatch(matcher.cards[best], float(sims[best])))
    return guided, closest


def right(match: CardMatch, question: Question, retriever: Retriever) -> bool:
    keys = {a.key for law, n in match.card.articles if (a := retriever.corpus.get(law, n)) is not None}
    return bool(keys & question.gold)


def report(name: str, questions: list[Question], picked: Picked, retriever: Retriever) -> None:
    print(f"\n{name}: {len(questions)} questions")
    print("threshold  matched  coverage  right  precision")
    for t in THRESHOLDS:
        chosen = [(m, q) for m, q in zip(picked, questions, strict=True) if m is not None and m.similarity >= t]
        n, ok = len(chosen), sum(right(m, q, retriever) for m, q in chosen)
        precision = f"{ok / n:.1%}" if n else "  -"
        print(f"{t:9.2f}  {n:7d}  {n / len(questions):8.1%}  {ok:5d}  {precision:>9}")


def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--stard", type=Path, default=STARD)
    p.add_argument("--show", type=float, default=None, help="list the matches at this threshold")
    args = p.parse_args()
    retriever = open_retriever(common.settings(args), answering_only=True)
    matcher = CardMatcher(retriever.embed_question, corpus=retriever.corpus)
    print(f"cards: {len(matcher.cards)}")
    # With the 19 laws, the village laws' tune split and STARD's rows on those laws too: the cards on them
    # are matched only there.
    sets = [("dev tune (with the village laws' where the corpus holds them)", common.tune_questions(retriever.corpus))]
    if args.stard.exists():
        sets.append(("STARD train (rows the corpus holds)", read_questions(args.stard, retriever.corpus).questions))
    both: tuple[list[Question], Picked] = ([], [])
    for name, questions in sets:
        with bank_without(retriever, questions):  # the bank holds the real questions themselves
            guided, closest = pick(retriever, matcher, questions)
        report(f"{name}, closest card without the retrieval condition", questions, closest, retriever)
        report(f"{name}, the matcher's candidate", questions, guided, retriever)
        both[0].extend(questions)
        both[1].extend(guided)
        if args.show is not None:
            for m, q in zip(guided, questions, strict=True):
                if m is not None and m.similarity >= args.show:
                    mark = "ok " if right(m, q, retriever) else "BAD"
                    print(f"{mark} {m.similarity:.3f} {m.card.id:28} {q.query[:40]}")
    report("both sets, the matcher's candidate", both[0], both[1], retriever)


if __name__ == "__main__":
    main()
