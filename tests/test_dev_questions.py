"""The committed development set is well formed: gold articles exist, splits and topics are valid."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bot.answers.topics import CATEGORIES
from indexing.evaluation import load_questions
from knowledge.corpus import Corpus

DEV = Path(__file__).parent / "data" / "dev_questions.jsonl"


def test_every_gold_article_exists_and_no_question_repeats(full_corpus: Corpus) -> None:
    questions = load_questions(DEV)
    assert len(questions) >= 400
    assert len({q.query for q in questions}) == len(questions)
    for q in questions:
        for key in q.gold:
            law, _, number = key.rpartition(":")
            assert full_corpus.get(law, int(number)) is not None, f"{q.query}: {key} is not in the corpus"


def test_splits_keep_a_held_out_part_in_every_topic() -> None:
    import json

    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert {r["split"] for r in rows} == {"tune", "heldout"}
    assert {r["topic"] for r in rows} <= set(CATEGORIES)
    heldout = Counter(r["topic"] for r in rows if r["split"] == "heldout")
    topics = Counter(r["topic"] for r in rows)
    assert all(heldout[t] >= 1 for t, n in topics.items() if n >= 3)
    family_debt_land = {"婚姻家庭", "赡养抚养", "继承", "借贷欠款", "房屋宅基地", "土地承包", "邻里纠纷"}
    assert sum(topics[t] for t in family_debt_land) >= len(rows) / 2
