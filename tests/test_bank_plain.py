"""The question bank by the plain encoder: each article's closest bank question and its share of the
question's closest ones; carried through the bank's save, load and cross-validation cuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexing.bank_plain import NEIGHBOURS, BankPlain
from indexing.question_bank import QuestionBank
from indexing.rerank import BankPlainScore

LOAN, GIFT, LEASE = "民法典:667", "民法典:657", "民法典:703"


def _unit(*rows: list[float]) -> np.ndarray:
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


VECTORS = _unit([1, 0, 0], [0.8, 0.6, 0], [0, 1, 0], [0, 0, 1])
KEYS = [LOAN, GIFT, LOAN, LEASE]  # rows out of article order on purpose


def test_each_article_scores_by_its_closest_question() -> None:
    view = BankPlain(VECTORS, KEYS).view(np.array([1, 0, 0], dtype=np.float32))
    loan, gift, lease = view.scores([LOAN, GIFT, LEASE])
    assert loan.cosine == pytest.approx(1.0)  # row 0, not row 2 (cosine 0)
    assert gift.cosine == pytest.approx(0.8)
    assert lease.cosine == pytest.approx(0.0, abs=1e-6)


def test_shares_count_the_closest_questions_of_each_article() -> None:
    rows = NEIGHBOURS + 5
    vectors = _unit(*([[1, 0.01 * i, 0] for i in range(rows)]))
    keys = [LOAN] * 3 + [GIFT] * (rows - 3)
    scores = BankPlain(vectors, keys).view(np.array([1, 0, 0], dtype=np.float32)).scores([LOAN, GIFT])
    assert scores[0].share == pytest.approx(3 / NEIGHBOURS)  # its three questions are the closest
    assert scores[1].share == pytest.approx((NEIGHBOURS - 3) / NEIGHBOURS)


def test_an_article_without_bank_questions_has_no_cosine() -> None:
    scores = BankPlain(VECTORS, KEYS).view(np.array([0, 1, 0], dtype=np.float32)).scores(["民法典:1"])
    assert scores == [BankPlainScore(None, 0.0)]


def test_vectors_and_keys_must_agree() -> None:
    with pytest.raises(ValueError, match="3 plain vectors for 4 bank questions"):
        BankPlain(VECTORS[:3], KEYS)


def test_the_bank_keeps_its_plain_vectors_through_save_load_and_cuts(tmp_path: Path) -> None:
    texts = ["借钱不还", "彩礼退不退", "欠条丢了", "押金不退"]
    bank = QuestionBank(VECTORS, KEYS, texts, plain_vectors=VECTORS[::-1].copy())
    bank.save(tmp_path)
    loaded = QuestionBank.load(tmp_path)
    assert loaded.plain_vectors is not None
    np.testing.assert_array_equal(loaded.plain_vectors, VECTORS[::-1])
    cut = loaded.without({"彩礼退不退"})
    assert cut.plain_vectors is not None and len(cut.plain_vectors) == 3
    np.testing.assert_array_equal(cut.plain_vectors, VECTORS[::-1][[0, 2, 3]])
    assert cut.plain is not None and cut.plain.view(VECTORS[0]).scores([GIFT])[0].cosine is None


def test_a_bank_built_without_plain_vectors_has_no_plain_view(tmp_path: Path) -> None:
    bank = QuestionBank(VECTORS, KEYS, ["a", "b", "c", "d"])
    assert bank.plain is None
    bank.save(tmp_path)
    assert QuestionBank.load(tmp_path).plain is None
    with pytest.raises(ValueError, match="3 plain vectors"):
        QuestionBank(VECTORS, KEYS, ["a", "b", "c", "d"], plain_vectors=VECTORS[:3])
