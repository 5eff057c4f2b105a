from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from indexing.evaluation import Question, QuestionFileError, evaluate, load_questions, question_metrics


def test_question_metrics_by_hand() -> None:
    m = question_metrics(["x", "a", "y", "b"], frozenset({"a", "b", "c"}))
    assert m["recall@1"] == 0.0 and m["hit@1"] == 0.0
    assert m["recall@3"] == pytest.approx(1 / 3) and m["hit@3"] == 1.0
    assert m["recall@5"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx(1 / 2)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)


def test_evaluate_averages_over_questions() -> None:
    questions = [Question("q1", frozenset({"a"})), Question("q2", frozenset({"b"}))]
    ranked = {"q1": ["a", "b"], "q2": ["a", "c"]}
    report = evaluate(questions, lambda q, name, k: ranked[q][:k], retrievers=["bm25"])
    assert report["n"] == 2
    assert report["retrievers"]["bm25"]["hit@1"] == 0.5
    assert report["retrievers"]["bm25"]["mrr@10"] == 0.5


def test_load_questions_ignores_extra_keys(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    rows = [{"query": "借钱不还", "gold": [{"law": "中华人民共和国民法典", "article": 675}], "topic": "借贷欠款"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    [q] = load_questions(path)
    assert q.query == "借钱不还" and q.gold == frozenset({"中华人民共和国民法典:675"})


@pytest.mark.parametrize("line", ['{"query": "x"}', "not json", '{"query": "x", "gold": []}',
                                  '{"query": "x", "gold": [{"law": "民法典", "article": "abc"}]}'])
def test_load_questions_names_the_bad_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"query": "ok", "gold": [{"law": "L", "article": 1}]}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(QuestionFileError, match="line 2"):
        load_questions(path)
