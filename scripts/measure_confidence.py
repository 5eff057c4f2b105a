"""How often the bot answers legal questions and declines off-topic ones at its confidence threshold.

Legal questions: the tuning split of the development set (the held-out split is never used).
Off-topic: everyday messages an official account receives that no statute article answers. For each
candidate threshold, the share of legal questions answered (confidence ≥ threshold) and of off-topic
messages given the honest "nothing found" reply. Confidence is `bot.answers.confidence.confidence` over the
top 10 hits, exactly as the composer computes it; `bot.answers.composer.MIN_CONFIDENCE` is the threshold in use.
As in the composer, a message the on-topic model (`indexing.on_topic`) puts below `bot.answers.composer.MIN_LEGAL`
is declined too, unless it cites an article directly; the first table leaves that model out.

Run from the repository root, with the index built (`pufa build`):
    .venv/bin/python scripts/measure_confidence.py [--data-dir data]
"""

# ruff: noqa: T201 - a command-line script: printing the figures is its job
from __future__ import annotations

import common
import numpy as np

from bot.answers.composer import MIN_CONFIDENCE, MIN_LEGAL
from bot.answers.confidence import confidence
from bot.search.pipeline import open_retriever
from indexing.retrieval import Retriever

OFF_TOPIC = (
    "明天天气怎么样", "手机话费怎么充", "红烧肉怎么做才好吃", "今天几号了", "你是机器人吗",
    "推荐一首好听的歌", "玉米什么时候播种最好", "猪瘟怎么预防", "去县城的班车几点发车", "孩子发烧了吃什么药",
    "怎么用微信视频通话", "哪里能买到便宜的化肥", "广场舞音乐下载", "今年鸡蛋多少钱一斤", "家里wifi连不上了",
    "讲个笑话听听", "西瓜怎么挑甜的", "高铁票怎么在手机上买", "村里晚上几点停电", "羊毛衫怎么洗不缩水",
    "腰疼贴什么膏药", "狗不吃东西怎么办", "驾照考试难不难", "中秋节放几天假", "白菜怎么腌酸菜",
)  # fmt: skip
THRESHOLDS = (0.25, 0.30, 0.35, 0.40, 0.45)


def main() -> None:
    args = common.parser(__doc__).parse_args()
    settings = common.settings(args)
    retriever = open_retriever(settings)
    legal = [_scores(retriever, q.query) for q in common.tune_questions()]
    other = [_scores(retriever, text) for text in OFF_TOPIC]
    print(f"{len(legal)} 'tune' questions, {len(other)} off-topic messages; in use: {MIN_CONFIDENCE}, "
          f"MIN_LEGAL {MIN_LEGAL}")  # fmt: skip
    for title, use_legal in (("confidence alone", False), ("with the on-topic model", True)):
        print(f"{title}\nthreshold  legal answered  off-topic declined")
        for threshold in THRESHOLDS:
            answered = [_answered(s, threshold, use_legal) for s in legal]
            declined = [not _answered(s, threshold, use_legal) for s in other]
            print(f"{threshold:9.2f}  {np.mean(answered):14.0%}  {np.mean(declined):18.0%}")


def _scores(retriever: Retriever, text: str) -> tuple[float, float, bool]:
    """Confidence, probability of a legal question, and whether an article was cited directly."""
    vector = retriever.embed_question(text)
    hits = retriever.search(text, k=10, query_vector=vector)
    direct = any("direct" in hit.retrievers for hit in hits)
    return confidence(hits), retriever.legal_probability(text, vector), direct


def _answered(scores: tuple[float, float, bool], threshold: float, use_legal: bool) -> bool:
    score, legal, direct = scores
    return score >= threshold and (not use_legal or legal >= MIN_LEGAL or direct)


if __name__ == "__main__":
    main()
