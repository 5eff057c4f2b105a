"""The question bank's arithmetic, file format and the shipped written questions' file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexing.question_bank import (
    DEFAULT_QUESTIONS,
    NEIGHBOURS,
    QuestionBank,
    QuestionFileError,
    WrittenQuestion,
    default_bank_questions,
    load_real_questions,
    load_written_questions,
    questions_digest,
)
from knowledge.corpus import Corpus

LOAN, GIFT, LEASE = "民法典:675", "民法典:658", "民法典:703"


def _unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def _bank() -> QuestionBank:
    vectors = np.stack([_unit(1, 0, 0), _unit(0.9, 0.1, 0), _unit(0.8, 0.2, 0),
                        _unit(0, 1, 0), _unit(0, 0, 1)])  # fmt: skip
    return QuestionBank(vectors, [LOAN, LOAN, GIFT, GIFT, LEASE], ["a", "b", "c", "d", "e"])


def test_articles_are_ranked_by_their_share_of_the_nearest_questions() -> None:
    bank, query = _bank(), _unit(1, 0.05, 0)
    nearest = bank.nearest(query)
    matches = bank.matches(nearest, limit=10)
    assert list(matches) == [LOAN, GIFT, LEASE]
    assert sum(m.share for m in matches.values()) == pytest.approx(1.0)
    assert matches[LOAN].row == 0 and matches[LOAN].cosine == pytest.approx(float(bank.vectors[0] @ query))
    assert matches[GIFT].row == 2  # its closest written question, not its first
    assert list(bank.matches(nearest, limit=1)) == [LOAN]


def test_two_close_questions_outweigh_one_slightly_closer() -> None:
    vectors = np.stack([_unit(1, 0.02, 0), _unit(1, 0.03, 0), _unit(1, 0, 0)])
    bank = QuestionBank(vectors, [LOAN, LOAN, GIFT], ["a", "b", "c"])
    assert list(bank.matches(bank.nearest(_unit(1, 0, 0)), limit=2)) == [LOAN, GIFT]


def test_the_nearest_questions_and_their_cosines_are_those_of_the_full_vectors() -> None:
    """The half-precision scan only shortlists: which neighbours, in which order and with which cosines
    comes from the float32 vectors, so near-ties beyond half precision still rank right."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(NEIGHBOURS * 3, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    bank = QuestionBank(vectors, [f"民法典:{i}" for i in range(len(vectors))], ["q"] * len(vectors))
    for query in vectors[:20] + rng.normal(scale=0.3, size=(20, 16)).astype(np.float32):
        exact = vectors @ query
        expected = np.lexsort((np.arange(len(exact)), -exact))[:NEIGHBOURS]
        rows, cosines = bank.nearest(query)
        assert rows.tolist() == expected.tolist()
        np.testing.assert_array_equal(cosines, exact[expected])


def test_best_cosines_are_over_each_articles_own_questions() -> None:
    bank, query = _bank(), _unit(0, 0.3, 1)
    cosines = bank.vectors @ query
    best = bank.best_cosines(query, [LEASE, "宪法:1", GIFT, LOAN])
    assert list(best) == [LEASE, GIFT, LOAN]  # an article without written questions is left out
    assert best[GIFT] == pytest.approx(float(max(cosines[2], cosines[3])))
    assert best[LOAN] == pytest.approx(float(max(cosines[0], cosines[1])))
    assert best[LEASE] == pytest.approx(float(cosines[4]))
    assert bank.best_cosines(query, []) == {}


def test_an_empty_bank_matches_nothing() -> None:
    bank = QuestionBank(np.empty((0, 3), dtype=np.float32), [], [])
    assert bank.matches(bank.nearest(_unit(1, 0, 0)), limit=5) == {}


def test_rows_must_agree() -> None:
    with pytest.raises(ValueError, match="rows disagree"):
        QuestionBank(np.zeros((2, 3)), [LOAN], ["a", "b"])


def test_the_bank_survives_a_save_and_load(tmp_path: Path) -> None:
    bank = _bank()
    bank.save(tmp_path)
    loaded = QuestionBank.load(tmp_path)
    assert loaded.keys == bank.keys and loaded.texts == bank.texts
    np.testing.assert_array_equal(loaded.vectors, bank.vectors)
    assert set(loaded.vectors_by_text()) == set(bank.texts)


def test_build_reuses_vectors_it_already_has_and_keeps_indexed_articles_only() -> None:
    asked: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        asked.append(texts)
        return np.stack([_unit(1, len(t), 0) for t in texts])

    written = [WrittenQuestion("借钱", LOAN), WrittenQuestion("送东西", GIFT), WrittenQuestion("租房", LEASE)]
    bank = QuestionBank.build(written, encode, {LOAN, GIFT}, reuse={"借钱": _unit(0, 0, 1)})
    assert asked == [["送东西"]]
    assert bank.keys == (LOAN, GIFT)
    np.testing.assert_allclose(bank.vectors[0], _unit(0, 0, 1))
    assert QuestionBank.build(written, encode, set()).vectors.shape[0] == 0


def test_a_bad_row_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    good = {"law": "中华人民共和国民法典", "article": 675, "question": "借钱不还"}
    bad = '{"law": "x", "question": "y"}'
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(QuestionFileError, match=r"q\.jsonl:2"):
        load_written_questions(path)
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n", encoding="utf-8")
    assert load_written_questions(path) == [WrittenQuestion("借钱不还", "中华人民共和国民法典:675")]


def test_the_digest_follows_the_pairs() -> None:
    pairs = [WrittenQuestion("借钱不还", LOAN)]
    assert questions_digest(pairs) == questions_digest(list(pairs))
    assert questions_digest(pairs) != questions_digest([WrittenQuestion("借钱不还", GIFT)])


def test_the_shipped_file_loads() -> None:
    written = load_written_questions(DEFAULT_QUESTIONS)
    assert len(written) > 4000 and len({q.question for q in written}) == len(written)


def test_real_questions_give_one_pair_per_labelled_article_of_the_three_laws(tmp_path: Path) -> None:
    path = tmp_path / "real.jsonl"
    rows = [{"query": "个体工商户的诉讼主体是什么？", "three_laws": True,
             "gold": [{"law": "中华人民共和国民法典", "article": 54}, {"law": "中华人民共和国民法典", "article": 56}]},
            {"query": "正当防卫", "three_laws": False, "gold": [{"law": "中华人民共和国刑法", "article": 20}]}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    assert load_real_questions(path) == [WrittenQuestion(rows[0]["query"], "中华人民共和国民法典:54", real=True),  # type: ignore[arg-type]
                                         WrittenQuestion(rows[0]["query"], "中华人民共和国民法典:56", real=True)]  # type: ignore[arg-type]
    path.write_text('{"query": "x", "gold": []}\n', encoding="utf-8")
    with pytest.raises(QuestionFileError, match=r"real\.jsonl:1"):
        load_real_questions(path)
    shipped = load_real_questions()
    assert len({q.question for q in shipped}) == 557 and len(shipped) > 557


def test_a_bank_without_some_texts_drops_exactly_their_rows() -> None:
    bank = _bank()
    less = bank.without({"b", "e", "not there"})
    assert less.texts == ("a", "c", "d") and less.keys == (LOAN, GIFT, GIFT)
    np.testing.assert_array_equal(less.vectors, bank.vectors[[0, 2, 3]])
    assert LEASE not in less.matches(less.nearest(_unit(0, 0, 1)), 5)
    assert bank.without({"nothing"}) is bank


def test_citations_count_the_real_questions_of_each_article_and_follow_the_bank() -> None:
    vectors = np.stack([_unit(1, 0, 0), _unit(0.9, 0.1, 0), _unit(0.8, 0.2, 0), _unit(0, 1, 0)])
    bank = QuestionBank(vectors, [LOAN, LOAN, LOAN, GIFT], ["written", "real a", "real b", "real c"],
                        [False, True, True, True])
    assert (bank.citations[LOAN], bank.citations[GIFT], bank.citations[LEASE]) == (2, 1, 0)
    less = bank.without({"real a", "real c"})  # cross-validation takes a fold's questions out
    assert (less.citations[LOAN], less.citations[GIFT]) == (1, 0)
    assert less.real == (False, True)
    with pytest.raises(ValueError, match="real flags"):
        QuestionBank(vectors, [LOAN] * 4, ["a", "b", "c", "d"], [True])


def test_real_flags_survive_saving_and_mark_the_digest(tmp_path: Path) -> None:
    vectors = np.stack([_unit(1, 0, 0), _unit(0, 1, 0)])
    QuestionBank(vectors, [LOAN, GIFT], ["written", "real"], [False, True]).save(tmp_path)
    loaded = QuestionBank.load(tmp_path)
    assert loaded.real == (False, True) and loaded.citations[GIFT] == 1
    # An index saved before real rows were marked has a different digest, so it is rebuilt.
    marked, unmarked = WrittenQuestion("借钱", LOAN, real=True), WrittenQuestion("借钱", LOAN)
    assert questions_digest([marked]) != questions_digest([unmarked])
    rows = json.loads((tmp_path / "question_bank.json").read_text(encoding="utf-8"))
    (tmp_path / "question_bank.json").write_text(json.dumps([{"article": r["article"], "text": r["text"]}
                                                              for r in rows]), encoding="utf-8")  # fmt: skip
    assert QuestionBank.load(tmp_path).real == (False, False)


def test_the_default_bank_marks_only_the_real_questions() -> None:
    questions = default_bank_questions()
    real = {q.question for q in questions if q.real}
    assert real == {q.question for q in load_real_questions()}
    assert not real & {q.question for q in load_written_questions()}


def test_a_corpus_bank_holds_only_questions_for_its_own_articles(full_corpus: Corpus, township_corpus: Corpus) -> None:
    """With the three laws, the written questions for the laws of village life stay out (they could only
    draw weight from the articles the corpus holds); with the 19 they are in."""
    for corpus in (full_corpus, township_corpus):
        keys = {a.key for a in corpus.articles}
        bank = default_bank_questions(keys)
        assert {q.article_key for q in bank} <= keys
    written = load_written_questions()
    three = default_bank_questions({a.key for a in full_corpus.articles})
    nineteen = default_bank_questions({a.key for a in township_corpus.articles})
    village = [q for q in written if q.article_key.startswith("中华人民共和国劳动合同法:")]
    assert village and not {q.question for q in village} & {q.question for q in three}
    assert {q.question for q in village} <= {q.question for q in nineteen}


def test_card_flags_survive_saving_mark_the_digest_and_keep_their_words_out(tmp_path: Path) -> None:
    vectors = np.stack([_unit(1, 0, 0), _unit(0, 1, 0)])
    bank = QuestionBank(vectors, [LOAN, GIFT], ["借钱 欠条", "借钱 彩礼"], card=[False, True])
    bank.save(tmp_path)
    loaded = QuestionBank.load(tmp_path)
    assert loaded.card == (False, True) and loaded.without({"借钱 欠条"}).card == (True,)
    card, written = WrittenQuestion("借钱", LOAN, card=True), WrittenQuestion("借钱", LOAN)
    assert questions_digest([card]) != questions_digest([written])
    # The card's phrasing is compared by meaning (it is a row) but its words count for no article.
    assert loaded.words.view(["彩礼"]).scores([GIFT]) == [0.0]
    assert loaded.words.view(["欠条"]).scores([LOAN])[0] != 0.0  # the written row is counted
    with pytest.raises(ValueError, match="1 card flags"):
        QuestionBank(vectors, [LOAN, GIFT], ["a", "b"], card=[True])
