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


VILLAGE_DEV = Path(__file__).parent / "data" / "dev_questions_village_laws.jsonl"


def test_village_law_questions_are_well_formed_and_never_copy_their_articles(township_corpus: Corpus) -> None:
    """The written questions for the laws of village life: golds exist, every topic keeps a held-out part
    (two of every five in sha256 order, as the main set), and no question shares five characters in a
    row with a gold article."""
    import hashlib
    import json

    rows = [json.loads(line) for line in VILLAGE_DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 100 and len({r["query"] for r in rows}) == len(rows)
    assert {r["topic"] for r in rows} <= set(CATEGORIES)
    for topic in {r["topic"] for r in rows}:
        ordered = sorted(
            (r for r in rows if r["topic"] == topic), key=lambda r: hashlib.sha256(r["query"].encode()).hexdigest()
        )
        assert [r["split"] for r in ordered] == [
            ("heldout" if i % 5 in (1, 3) else "tune") for i in range(len(ordered))
        ]
    for row in rows:
        query = row["query"]
        for gold in row["gold"]:
            article = township_corpus.get(gold["law"], gold["article"])
            assert article is not None, f"{query}: {gold} is not in the township corpus"
            assert not any(query[i : i + 5] in article.text for i in range(len(query) - 4)), query
    assert len(load_questions(VILLAGE_DEV)) == len(rows)
