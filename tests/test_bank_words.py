"""The question bank's words: each article's questions as a bag of words, scored against a question."""

from __future__ import annotations

import math

import numpy as np
import pytest

from indexing.bank_words import PRIOR_WORDS, BankWords
from indexing.keyword_index import tokenize
from indexing.question_bank import QuestionBank
from indexing.retrieval import Retriever

LOAN, GIFT, LEASE = "民法典:667", "民法典:657", "民法典:703"
TEXTS = ["借钱不还 欠条 还在", "欠条 丢了 借钱 咋办", "彩礼 退不退", "房东 不退 押金"]
KEYS = [LOAN, LOAN, GIFT, LEASE]


def test_an_article_whose_questions_share_the_words_scores_highest() -> None:
    words = BankWords(KEYS, TEXTS)
    scores = words.view(tokenize("借了钱打了欠条不还")).scores([GIFT, LOAN, LEASE])
    assert scores[1] > max(scores[0], scores[2])


def test_the_score_is_the_mean_log_likelihood_ratio_with_a_dirichlet_prior() -> None:
    words = BankWords([LOAN, GIFT], ["欠条 欠条", "彩礼"])
    # The bank: 欠条 twice, 彩礼 once. P(欠条 | bank) = 2.5 / 3.5; under LOAN's questions (2 words):
    # (2 + PRIOR × 2.5/3.5) / (2 + PRIOR).
    background = 2.5 / 3.5
    expected = math.log((2 + PRIOR_WORDS * background) / (2 + PRIOR_WORDS) / background)
    assert words.view(["欠条"]).scores([LOAN]) == pytest.approx([expected])


def test_an_article_without_questions_scores_zero_and_an_unseen_word_costs_by_size() -> None:
    words = BankWords(KEYS, TEXTS)
    loan_words = len(tokenize(TEXTS[0])) + len(tokenize(TEXTS[1]))
    expected = math.log(PRIOR_WORDS / (loan_words + PRIOR_WORDS))  # its share of the prior's mass
    assert words.view(["拖拉机"]).scores(["民法典:1", LOAN]) == pytest.approx([0.0, expected], abs=1e-12)
    assert words.view([]).scores([LOAN]) == [0.0]


def test_keys_and_texts_must_agree() -> None:
    with pytest.raises(ValueError, match="3 article keys for 4 questions"):
        BankWords(KEYS[:3], TEXTS)


def test_a_bank_less_some_questions_loses_their_words() -> None:
    bank = QuestionBank(np.eye(4, dtype=np.float32), KEYS, TEXTS)
    question = tokenize("彩礼退不退")
    before = bank.words.view(question).scores([GIFT])[0]
    after = bank.without({"彩礼 退不退"}).words.view(question).scores([GIFT])[0]
    assert before > 0 and after == pytest.approx(0.0, abs=1e-12)


def test_the_ranking_holds_the_articles_using_the_words_best_first_and_agrees_with_the_scores() -> None:
    words = BankWords(KEYS, TEXTS)
    question = tokenize("押金不退，欠条也丢了")
    ranking = words.view(question).ranking(10)
    assert set(ranking) == {LOAN, LEASE}  # GIFT's questions share none of the words (不退 is not 退不退)
    scores = dict(zip(ranking, words.view(question).scores(ranking), strict=True))
    assert scores[ranking[0]] >= scores[ranking[1]]
    assert words.view(question).ranking(1) == ranking[:1]
    assert words.view([]).ranking(10) == [] and words.view(["拖拉机"]).ranking(10) == []


def test_the_question_banks_words_bring_their_articles_to_the_candidates(mini_retriever: Retriever) -> None:
    assert mini_retriever.bank is not None
    question = "邻居借了我五千块钱一直不还怎么办"
    hits = mini_retriever.search(question, k=50)
    assert any("words" in h.retrievers for h in hits)
    assert all("words" not in h.retrievers for h in mini_retriever.search(question, k=50, mode="bank"))
