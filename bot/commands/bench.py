"""`pufa bench retrieval` and `pufa bench webhook`: print measured figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.commands.output import say, say_json
from bot.commands.retrieval import DEFAULT_QUESTIONS
from bot.search import pipeline
from bot.settings import Settings
from indexing.benchmark import benchmark_retrieval
from indexing.evaluation import load_questions


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench_parser = sub.add_parser("bench", help="benchmarks that print figures")
    bench = bench_parser.add_subparsers(dest="bench", required=True)
    p = bench.add_parser("retrieval", help="query latency, index build time and peak RSS")
    p.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    p.add_argument("--limit", type=int, default=200, help="how many questions to time")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_bench_retrieval)
    w = bench.add_parser("webhook", help="load a running server: requests/s, latency, errors, records")
    w.add_argument("--url", default="http://127.0.0.1:8000/wechat", help="the webhook (loopback only)")
    w.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    w.add_argument("--concurrency", type=int, default=50, help="clients sending at once")
    w.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    w.add_argument("--database-url", default=None, help="the server's database (default: PUFA_DATABASE_URL)")
    w.add_argument("--token", default=None, help="the server's WeChat token (default: PUFA_WECHAT_TOKEN)")
    w.add_argument("--keep-alive", action="store_true",
                   help="one open connection per client; by default each message comes on a new one, "
                        "as nginx forwards them")
    w.add_argument("--json", action="store_true")
    w.set_defaults(handler=cmd_bench_webhook)


def cmd_bench_retrieval(args: argparse.Namespace, settings: Settings) -> int:
    questions = [q.query for q in load_questions(args.questions)][: args.limit]
    embedder = pipeline.open_embedder(settings)
    plain = pipeline.open_plain_encoder(settings, embedder.document_model_id, embedder)
    figures = benchmark_retrieval(pipeline.open_corpus(settings), embedder, questions, plain=plain)
    if args.json:
        say_json(figures)
    else:
        for key, value in figures.items():
            say(f"{key:<14} {value}")
    return 0


def cmd_bench_webhook(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ops.loadgen import count_records, drive
    from bot.settings import with_development_defaults

    settings = with_development_defaults(settings)
    token = args.token or settings.wechat_token
    questions = [q.query for q in load_questions(args.questions)]
    report = drive(args.url, token, questions, duration_s=args.duration, concurrency=args.concurrency,
                   keep_alive=args.keep_alive)
    figures = report.figures()
    figures["records"] = count_records(args.database_url or settings.sqlalchemy_url, report.answered)
    if args.json:
        say_json(figures)
    else:
        for key, value in figures.items():
            say(f"{key:<10} {value}")
    return 0 if figures["errors"] == 0 and figures["records"] == len(report.answered) else 1
