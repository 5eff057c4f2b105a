"""Measure retrieval levers on real questions (5-fold CV) and on the dev set's held-out split.

For each lever, hybrid search runs once per question with the re-ranker replaced by a recorder; the
re-ranker is then refitted per fold on the dev set's tuning split plus STARD's other folds (as
`pufa eval --cv 5`), and each fold's questions ranked by it. The held-out split is ranked by the
re-ranker fitted on the tuning split plus all of STARD's three-law questions (what would ship). Prints
one line per lever: STARD 3-law CV R@5 / MRR@10, dev heldout R@5 / MRR@10.

    .venv/bin/python scripts/cross_validate_levers.py [--data-dir DIR] [--levers LEVER,LEVER,...]

A lever is one or more settings joined by "+" (e.g. c=1+split): tune-only (the re-ranker fitted on
the tuning split alone, as before issue 21), c=X (its inverse regularisation), rw=X (the weight of a
real question's rows against a written one's), bm25=W / bank=W / plain=W (fusion weights), depth=N (candidates
re-ranked), split (multi-question messages: the whole message's ranking and each part's interleaved),
split-parts (the parts' rankings alone); "refit" alone is today's recipe.
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import common

import indexing.retrieval as retrieval_module
from bot.search.pipeline import open_corpus, open_retriever
from indexing.cross_validation import SEED, deal_folds
from indexing.evaluation import Question, load_questions, mean_metrics, question_metrics, read_questions
from indexing.multi_question import interleave, question_parts
from indexing.query import expand_question
from indexing.question_bank import REAL_QUESTIONS
from indexing.rerank import DEPTH, LinearReranker
from indexing.rerank_training import C, Example, FeatureRecorder, capture_examples, fit_reranker, reranked_keys
from indexing.retrieval import Retriever

REAL = REAL_QUESTIONS
FOLDS = 5
Ranker = Callable[[Question, LinearReranker | None], list[str]]


class Lab:
    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self.examples: dict[str, Example] = {}

    def capture(self, queries: Sequence[str]) -> None:
        todo = [q for q in dict.fromkeys(queries) if q not in self.examples]
        questions = [Question(q, frozenset()) for q in todo]
        for example in capture_examples(self.retriever, questions):
            self.examples[example.question.query] = example

    def ranking(self, query: str, model: LinearReranker | None) -> list[str]:
        direct = self.retriever._direct(query)  # noqa: SLF001 - the cited articles come first in search too
        return direct + [k for k in reranked_keys(self.examples[query], model) if k not in direct]


def labelled(lab: Lab, questions: Sequence[Question]) -> list[Example]:
    return [Example(q, lab.examples[q.query].keys, lab.examples[q.query].features) for q in questions]


Figures = dict[str, float]


def measure(lab: Lab, tune: list[Question], heldout: list[Question], real: list[Question], split: bool,
            fit_real: bool, split_whole: bool = True, real_weight: float = 1.0,
            c: float = C) -> tuple[Figures, Figures]:  # fmt: skip
    """STARD's 5-fold CV figures and the dev held-out split's, for one lever."""
    def parts(q: Question) -> list[str]:
        return question_parts(q.query) if split else [q.query]

    lab.capture([q.query for q in tune + heldout + real] + [p for q in tune + heldout + real for p in parts(q)])

    def rank(q: Question, model: LinearReranker | None) -> list[str]:
        pieces = parts(q)
        if len(pieces) == 1:
            return lab.ranking(q.query, model)
        whole = [lab.ranking(q.query, model)] if split_whole else []
        return interleave(whole + [lab.ranking(p, model) for p in pieces])

    tune_ex = labelled(lab, tune)
    real_ex = labelled(lab, real)
    per_fold = []
    for held in deal_folds(len(real), FOLDS, SEED):
        held_set = set(held)
        train = tune_ex + ([e for i, e in enumerate(real_ex) if i not in held_set] if fit_real else [])
        model = fit_reranker(train, c, [1.0] * len(tune_ex) + [real_weight] * (len(train) - len(tune_ex)))
        per_fold.append(mean_metrics(question_metrics(rank(real[i], model), real[i].gold) for i in held))
    final = fit_reranker(tune_ex + (real_ex if fit_real else []), c,
                         [1.0] * len(tune_ex) + [real_weight] * (len(real_ex) if fit_real else 0))
    dev = mean_metrics(question_metrics(rank(q, final), q.gold) for q in heldout)
    return mean_metrics(per_fold), dev


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--levers", default="tune-only,refit")
    args = parser.parse_args()
    settings = common.settings(args)
    corpus = open_corpus(settings)
    retriever = open_retriever(settings, reranker=FeatureRecorder())
    dev = load_questions(common.SOURCE)
    tune = [q for q in dev if q.split == "tune"]
    heldout = [q for q in dev if q.split == "heldout"]
    real = read_questions(REAL, corpus).questions
    # The levers here were measured with the written questions alone in the bank; the real ones (in the
    # shipped bank since) would find themselves: `pufa eval` cross-validates with them in.
    assert retriever.bank is not None
    retriever.bank = retriever.bank.without({expand_question(q.query) for q in real})
    print(f"{len(real)} STARD three-law questions, {len(tune)} tune, {len(heldout)} heldout; "
          f"query encoder {retriever.embedder.model_id}")  # fmt: skip
    weights, depth = retrieval_module.FUSION_WEIGHTS, DEPTH
    for lever in args.levers.split(","):
        start = time.perf_counter()
        opts = {part.partition("=")[0]: part.partition("=")[2] for part in lever.split("+")}
        fusion = (float(opts.get("bm25", weights[0])), weights[1], float(opts.get("bank", weights[2])),
                  float(opts.get("plain", weights[3])))
        _configure(fusion, int(opts.get("depth", depth)))
        lab = Lab(retriever)  # features depend on the lever: captured afresh
        split = "split" in opts or "split-parts" in opts
        cv, held = measure(lab, tune, heldout, real, split=split, fit_real="tune-only" not in opts,
                           split_whole="split-parts" not in opts, real_weight=float(opts.get("rw", 1.0)),
                           c=float(opts.get("c", C)))
        print(f"{lever:<12} STARD CV R@5 {cv['recall@5']:.3f} MRR@10 {cv['mrr@10']:.3f} | dev heldout "
              f"R@5 {held['recall@5']:.3f} MRR@10 {held['mrr@10']:.3f}  ({time.perf_counter() - start:.0f}s)",
              flush=True)  # fmt: skip
    _configure(weights, depth)


def _configure(fusion: tuple[float, float, float, float], depth: int) -> None:
    """Hybrid search's fusion weights and re-ranked depth, as module constants it reads per search."""
    vars(retrieval_module).update(FUSION_WEIGHTS=fusion, DEPTH=depth)


if __name__ == "__main__":
    main()
