"""`pufa build`, `pufa ask`, `pufa eval`, `pufa bench retrieval`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.commands.output import say, say_json
from bot.search import pipeline
from bot.settings import Settings
from indexing.cross_validation import cross_validate_retriever
from indexing.evaluation import KS, RETRIEVERS, Question, evaluate, load_questions, read_questions
from indexing.question_bank import REAL_QUESTIONS
from indexing.retrieval import Retriever
from knowledge.corpus import Corpus

DEFAULT_QUESTIONS = Path("tests/data/dev_questions.jsonl")
# Written for the laws of village life (issue 23): reported, and tuned on, when the corpus holds them.
VILLAGE_QUESTIONS = Path("tests/data/dev_questions_village_laws.jsonl")
REAL_FOLDS = 5


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("build", help="build (or incrementally update) the statute index")
    p.set_defaults(handler=cmd_build)

    p = sub.add_parser("ask", help="show the articles retrieved for a question")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--mode", choices=RETRIEVERS, default="hybrid")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("eval", help="measure retrieval on a JSON Lines question file (default: the dev "
                                    "set's two splits and the real questions, the latter cross-validated)")
    p.add_argument("--questions", type=Path, default=None)
    p.add_argument("--split", help="only questions whose 'split' equals this (e.g. tune, heldout)")
    p.add_argument("--cv", type=int, default=None, metavar="K",
                   help="K-fold cross-validation: each fold searched with a re-ranker fitted on the dev "
                        "set's tuning split and the other folds; the mean of the folds is reported")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_eval)


def progress_bar(desc: str) -> Callable[[int, int], None]:
    """tqdm bars on stderr driven by (done, total) callbacks; a new bar for each phase (index chunks, then
    the question bank's written questions)."""
    bar: tqdm[Any] | None = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="text", file=sys.stderr)
        current = bar
        current.n = done
        current.refresh()
        if done >= total:
            current.close()
            bar = None

    return update


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    start = time.perf_counter()
    manifest = pipeline.build(settings, progress=progress_bar("embedding"))
    say(f"index: {settings.index_dir}  laws: {len(manifest.laws)}  chunks: {len(manifest.chunk_ids)}  "
          f"re-embedded: {len(manifest.chunk_ids) - manifest.reused_vectors}  "
          f"time: {time.perf_counter() - start:.1f}s")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    retriever = pipeline.open_retriever(settings, build_if_needed=True, progress=progress_bar("embedding"))
    hits = retriever.search(args.question, k=args.k, mode=args.mode)
    if args.json:
        say(json.dumps([{
            "citation": h.article.citation, "path": list(h.article.path), "score": round(h.score, 4),
            "retrievers": list(h.retrievers), "dense_score": h.dense_score, "bm25_score": h.bm25_score,
        } for h in hits], ensure_ascii=False, indent=1))
        return 0
    if not hits:
        say("没有找到相关条文。")
    for rank, h in enumerate(hits, start=1):
        dense = f"{h.dense_score:.3f}" if h.dense_score is not None else "-"
        say(f"{rank}. {h.article.citation}  [{' / '.join(h.article.path)}]")
        say(f"   score {h.score:.4f}  dense {dense}  found by: {', '.join(h.retrievers) or '-'}")
        say(f"   {h.article.text[:120].replace(chr(10), ' ')}{'……' if len(h.article.text) > 120 else ''}")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    retriever = pipeline.open_retriever(settings, build_if_needed=True, progress=progress_bar("embedding"))
    if args.questions is None:
        sets = {f"dev {split}": _report(retriever, DEFAULT_QUESTIONS, split, None)
                for split in ("tune", "heldout")}  # fmt: skip
        if _holds_village_laws(retriever):
            sets |= {f"dev village laws {split}": _report(retriever, VILLAGE_QUESTIONS, split, None)
                     for split in ("tune", "heldout")}  # fmt: skip
        sets[f"real (STARD, {REAL_FOLDS}-fold CV)"] = _report(retriever, REAL_QUESTIONS, None, REAL_FOLDS)
    else:
        sets = {str(args.questions): _report(retriever, args.questions, args.split, args.cv)}
    if args.json:
        say_json(next(iter(sets.values())) if args.questions else {"sets": sets})
        return 0
    for title, report in sets.items():
        _print_table(title, report)
    return 0


def _report(retriever: Retriever, path: Path, split: str | None, folds: int | None) -> dict[str, object]:
    """One question file's figures; `folds`: cross-validated (the re-ranker refitted per fold)."""
    found = read_questions(path, retriever.corpus)
    questions = [q for q in found.questions if split is None or q.split == split]
    if folds is None:
        report = evaluate(questions, lambda q, mode, k: [h.article.key for h in retriever.search(q, k=k, mode=mode)])
    else:
        report = cross_validate_retriever(retriever, questions, folds, base=written_tune(retriever.corpus))
    return {**report, "skipped": found.skipped, "split": split}


def _holds_village_laws(retriever: Retriever) -> bool:
    """Whether the corpus holds every law the village laws' written questions cite."""
    if not VILLAGE_QUESTIONS.exists():
        return False
    laws = {key.rpartition(":")[0] for q in load_questions(VILLAGE_QUESTIONS) for key in q.gold}
    return laws <= set(retriever.corpus.laws)


def written_tune(corpus: Corpus) -> list[Question]:
    """The dev sets' tuning splits, the re-ranker's written questions (those whose articles the corpus
    holds): what `pufa eval --cv` and `scripts/train_reranker.py` fit it on."""
    keys = {article.key for article in corpus.articles}
    return [q for path in (DEFAULT_QUESTIONS, VILLAGE_QUESTIONS) if path.exists()
            for q in load_questions(path) if q.split == "tune" and q.gold <= keys]  # fmt: skip


def _print_table(title: str, report: dict[str, object]) -> None:
    cv = report.get("cv")
    notes = [f"split {report['split']}"] if report.get("split") else []
    notes += [f"{report['skipped']} skipped: articles outside the corpus"] if report.get("skipped") else []
    notes += [f"mean of {cv['folds']} held-out folds, seed {cv['seed']}"] if isinstance(cv, dict) else []
    say(f"{report['n']} questions: {title}" + (f" ({'; '.join(notes)})" if notes else ""))
    names = [f"recall@{k}" for k in KS] + [f"hit@{k}" for k in KS] + ["mrr@10", "ndcg@10"]
    say(f"{'metric':<10}" + "".join(f"{r:>9}" for r in RETRIEVERS))
    results: dict[str, dict[str, float]] = report["retrievers"]  # type: ignore[assignment]
    for name in names:
        say(f"{name:<10}" + "".join(f"{results[r][name]:>9.3f}" for r in RETRIEVERS))
