"""`pufa bench retrieval` (and later `pufa bench webhook`): print measured figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot import pipeline
from bot.commands.retrieval import DEFAULT_QUESTIONS
from bot.settings import Settings
from indexing.benchmark import benchmark_retrieval
from indexing.evaluation import load_questions


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="benchmarks that print figures").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("retrieval", help="query latency, index build time and peak RSS")
    p.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    p.add_argument("--limit", type=int, default=200, help="how many questions to time")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_bench_retrieval)


def cmd_bench_retrieval(args: argparse.Namespace, settings: Settings) -> int:
    questions = [q.query for q in load_questions(args.questions)][: args.limit]
    figures = benchmark_retrieval(pipeline.open_corpus(settings), pipeline.open_embedder(settings), questions)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:<14} {value}")
    return 0
