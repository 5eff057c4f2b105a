from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from indexing.evaluation import (
    Question,
    QuestionFileError,
    evaluate,
    load_questions,
    question_metrics,
    read_questions,
)
from indexing.question_bank import REAL_QUESTIONS


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


class _Corpus:
    laws = ("中华人民共和国民法典",)

    def get(self, law: str, number: int) -> object | None:
        return object() if law == self.laws[0] and 1 <= number <= 1260 else None


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_rows_outside_the_three_laws_are_skipped_and_counted(tmp_path: Path) -> None:
    civil = {"law": "中华人民共和国民法典", "article": 56}
    rows = [{"query": "a", "gold": [civil], "three_laws": True},
            {"query": "b", "gold": [{"law": "中华人民共和国刑法", "article": 120, "article_sub": 1}],
             "three_laws": False},
            {"query": "c", "gold": [civil, {"law": "中华人民共和国民法典", "article": 54}]}]
    found = read_questions(_write(tmp_path / "q.jsonl", rows), _Corpus())
    assert [q.query for q in found.questions] == ["a", "c"] and found.skipped == 1
    assert [q.line for q in found.questions] == [1, 3]


def test_a_row_beyond_the_three_laws_is_kept_when_the_corpus_holds_its_articles(tmp_path: Path) -> None:
    civil = {"law": "中华人民共和国民法典", "article": 56}
    rows = [{"query": "a", "gold": [civil, {"law": "中华人民共和国民法典", "article": 1500}], "three_laws": False},
            {"query": "b", "gold": [civil], "three_laws": False}]  # its law was not one of the three: in this corpus
    found = read_questions(_write(tmp_path / "q.jsonl", rows), _Corpus())
    assert [q.query for q in found.questions] == ["b"] and found.skipped == 1


@pytest.mark.parametrize(("gold", "message"), [
    ({"law": "中华人民共和国刑法", "article": 20}, "line 2: unknown law '中华人民共和国刑法'"),
    ({"law": "中华人民共和国民法典", "article": 1261}, "line 2: 中华人民共和国民法典 has no article 1261"),
    ({"law": "中华人民共和国民法典", "article": 10, "article_sub": 1}, "line 2: .* has no article 10之1"),
])
def test_unknown_laws_and_articles_refuse_the_file(tmp_path: Path, gold: dict[str, object], message: str) -> None:
    rows = [{"query": "ok", "gold": [{"law": "中华人民共和国民法典", "article": 1}]}, {"query": "x", "gold": [gold]}]
    path = _write(tmp_path / "q.jsonl", rows)
    with pytest.raises(QuestionFileError, match=message):
        read_questions(path, _Corpus())
    assert len(load_questions(path)) == 2  # without a corpus, nothing to check against


def test_the_real_questions_file_fits_the_three_laws() -> None:
    """The copy of STARD's train split: 557 of its 924 rows are in the three laws."""
    found = read_questions(REAL_QUESTIONS, _Corpus())
    assert len(found.questions) == 557 and found.skipped == 924 - 557
