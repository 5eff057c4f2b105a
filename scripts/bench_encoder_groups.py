"""CPU per question of the int8 question encoder for batches of questions that arrived together.

Batches are drawn at random from the development set (the questions as the bot encodes them, after
the lexicon expansion), so their lengths differ as they do under load. Three ways to run a batch:
one call padded to its longest question, one call per question, and one call per group of similar
length (`indexing.onnx_encoder.length_groups`, what the server does). One encoder thread, as each of
the server's encoder workers uses; the best of `--repeat` passes over the whole set.

Run from the repository root, with the model prepared (`pufa build`):
    .venv/bin/python scripts/bench_encoder_groups.py [--data-dir data] [--batch 4 8 16]
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial

import common

from indexing.embedder import Embedder
from indexing.evaluation import load_questions
from indexing.onnx_encoder import OnnxQueryEncoder
from indexing.query import expand_question

NO_LIMIT = 10**6


def cpu_ms_per_question(encoder: OnnxQueryEncoder, texts: list[str], batch: int, spread: int,
                        one_by_one: bool = False) -> float:  # fmt: skip
    order = random.Random(1).sample(texts, len(texts))
    encoder.length_spread = spread
    started = time.process_time()
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        if one_by_one:
            for text in chunk:
                encoder.encode([text])
        else:
            encoder.encode(chunk)
    return 1000 * (time.process_time() - started) / len(order)


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--batch", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--spread", type=int, nargs="+", default=[4, 8, 12])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = common.settings(args)
    embedder = Embedder.load(settings.embedding_model, settings.model_cache_dir, query_backend="onnx")
    encoder = embedder.query_encoder
    assert isinstance(encoder, OnnxQueryEncoder)
    texts = [expand_question(q.query) for q in load_questions(common.SOURCE)]
    encoder.encode(texts[:16])  # warm-up
    print(f"{len(texts)} dev questions, ms CPU per question (best of {args.repeat}), one thread")
    for batch in args.batch:
        measure = partial(cpu_ms_per_question, encoder, texts, batch)
        runs: dict[str, Callable[[], float]] = {
            "padded": partial(measure, NO_LIMIT),
            "one by one": partial(measure, 0, one_by_one=True),
        }
        for spread in args.spread:
            runs[f"groups ±{spread}"] = partial(measure, spread)
        figures = {name: min(run() for _ in range(args.repeat)) for name, run in runs.items()}
        print(f"batch {batch:2d}: " + "  ".join(f"{name} {ms:.2f}" for name, ms in figures.items()))


if __name__ == "__main__":
    main()
