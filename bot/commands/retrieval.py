"""`pufa build`, `pufa ask`, `pufa eval`, `pufa bench retrieval`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from bot.search import pipeline
from bot.settings import Settings
from indexing.evaluation import KS, RETRIEVERS, evaluate, load_questions

DEFAULT_QUESTIONS = Path("tests/data/dev_questions.jsonl")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build (or incrementally update) the statute index")
    p.set_defaults(handler=cmd_build)

    p = sub.add_parser("ask", help="show the articles retrieved for a question")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--mode", choices=RETRIEVERS, default="hybrid")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("eval", help="measure retrieval on a JSON Lines question file")
    p.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    p.add_argument("--split", help="only questions whose 'split' equals this (e.g. tune, heldout)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_eval)


def progress_bar(desc: str):  # type: ignore[no-untyped-def]
    """tqdm bars on stderr driven by (done, total) callbacks; a new bar for each phase (index chunks, then
    the question bank's written questions)."""
    bar: tqdm | None = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="text", file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            bar = None

    return update


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    start = time.perf_counter()
    manifest = pipeline.build(settings, progress=progress_bar("embedding"))
    print(f"index: {settings.index_dir}  laws: {len(manifest.laws)}  chunks: {len(manifest.chunk_ids)}  "
          f"re-embedded: {len(manifest.chunk_ids) - manifest.reused_vectors}  "
          f"time: {time.perf_counter() - start:.1f}s")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    retriever = pipeline.open_retriever(settings, build_if_needed=True, progress=progress_bar("embedding"))
    hits = retriever.search(args.question, k=args.k, mode=args.mode)
    if args.json:
        print(json.dumps([{
            "citation": h.article.citation, "path": list(h.article.path), "score": round(h.score, 4),
            "retrievers": list(h.retrievers), "dense_score": h.dense_score, "bm25_score": h.bm25_score,
        } for h in hits], ensure_ascii=False, indent=1))
        return 0
    if not hits:
        print("没有找到相关条文。")
    for rank, h in enumerate(hits, start=1):
        dense = f"{h.dense_score:.3f}" if h.dense_score is not None else "-"
        print(f"{rank}. {h.article.citation}  [{' / '.join(h.article.path)}]")
        print(f"   score {h.score:.4f}  dense {dense}  found by: {', '.join(h.retrievers) or '-'}")
        print(f"   {h.article.text[:120].replace(chr(10), ' ')}{'……' if len(h.article.text) > 120 else ''}")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    questions = load_questions(args.questions)
    if args.split:
        questions = [q for q in questions if q.split == args.split]
    retriever = pipeline.open_retriever(settings, build_if_needed=True, progress=progress_bar("embedding"))
    report = evaluate(questions, lambda q, mode, k: [h.article.key for h in retriever.search(q, k=k, mode=mode)])
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    print(f"{report['n']} questions from {args.questions}" + (f" (split {args.split})" if args.split else ""))
    names = [f"recall@{k}" for k in KS] + [f"hit@{k}" for k in KS] + ["mrr@10", "ndcg@10"]
    print(f"{'metric':<10}" + "".join(f"{r:>9}" for r in RETRIEVERS))
    results: dict[str, dict[str, float]] = report["retrievers"]  # type: ignore[assignment]
    for name in names:
        print(f"{name:<10}" + "".join(f"{results[r][name]:>9.3f}" for r in RETRIEVERS))
    return 0
