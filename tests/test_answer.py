from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answers.composer import (
    DISCLAIMER,
    MAX_REPLY_BYTES,
    MIN_LEGAL,
    MORE_HINT,
    NO_HIT_LINE,
    RERANKER_VOUCH,
    Answer,
    compose_answer,
    compose_curated,
    compose_more,
)
from bot.answers.guides import guide
from bot.answers.text import ELLIPSIS
from bot.answers.topics import CATEGORIES
from bot.conversation.curated_match import CuratedMatch
from bot.staff.curated import MAX_ANSWER_CHARS
from indexing.retrieval import Hit
from knowledge.articles import Article
from knowledge.corpus import Corpus
from tests.reply_checks import TOWNSHIP, assert_sendable, cited_articles

DEBT_QUESTION = "邻居借了我五千块钱一直不还怎么办"


def hit(article: Article, margin: float | None = 0.025, retrievers: tuple[str, ...] = ("bm25", "dense")) -> Hit:
    """A hit whose strength is set by its hubness-corrected dense margin (see bot/answers/confidence.py)."""
    return Hit(
        article, score=margin or 0.0, retrievers=retrievers, chunk_id=f"{article.key}#0",
        dense_score=None if margin is None else 0.85, dense_margin=margin,
    )


def article(corpus: Corpus, law: str, number: int) -> Article:
    found = corpus.get(law, number)
    assert found is not None, f"{law} {number} is missing from the test corpus"
    return found


def hits_for(corpus: Corpus, numbers: list[int], law: str = "民法典", margin: float = 0.025) -> list[Hit]:
    return [hit(article(corpus, law, n), margin) for n in numbers]


def quoted_blocks(answer: Answer) -> dict[str, str]:
    """Article citation → the quoted text, from the reply's numbered blocks."""
    blocks = {}
    for block in answer.text.split("\n\n"):
        head, sep, body = block.partition("：")
        if sep and head[:1].isdigit() and "《" in head:
            blocks[head.split(".", 1)[1]] = body
    return blocks


def assert_quotes_verbatim(answer: Answer, corpus: Corpus) -> None:
    """Every quoted part is the corpus text, in the statute's order, gaps marked with ……."""
    articles = [corpus.get(law, int(n)) for law, _, n in (key.rpartition(":") for key in answer.cited)]
    by_citation = {a.short_citation: a for a in articles if a is not None}
    blocks = quoted_blocks(answer)
    assert set(blocks) == set(by_citation)
    for citation, body in blocks.items():
        full = by_citation[citation].text
        position = 0
        for part in filter(None, body.split(ELLIPSIS)):
            found = full.find(part, position)
            assert found >= 0, f"{part!r} is not in {citation} after position {position}"
            position = found + len(part)


def test_debt_question_gets_the_product_reply_shape(full_corpus: Corpus) -> None:
    answer = compose_answer(
        DEBT_QUESTION, hits_for(full_corpus, [675, 667, 188]), corpus=full_corpus, township=TOWNSHIP
    )
    lines = answer.text.splitlines()
    # The situation in plain words (no chapter name), led by the topic's tip on the first article quoted.
    tip = next(t for t in guide("借贷欠款") if t.number == 675)
    assert lines[:2] == [f"【借钱不还】{tip.text}（《民法典》第六百七十五条）。", "相关法律规定："]
    assert answer.tip_led and answer.text.count(tip.text) == 1  # not repeated among the 建议
    assert answer.category == "借贷欠款"
    assert answer.cited == tuple(f"中华人民共和国民法典:{n}" for n in (675, 667, 188))
    assert (
        answer.text.index("第六百七十五条")
        < answer.text.index("第六百六十七条")
        < answer.text.index("第一百八十八条")
    )
    assert any(line.startswith("建议：") for line in lines)
    assert f"拨打{TOWNSHIP.hotline}法律服务热线" in answer.text
    assert lines[-1] == DISCLAIMER
    assert MORE_HINT not in answer.text and answer.more == ()
    assert not answer.no_hit and not answer.emergency and answer.confidence > 0.5
    refs = cited_articles(answer.text, full_corpus)
    assert {("民法典", 675), ("民法典", 667), ("民法典", 188), ("人民调解法", 31)} <= set(refs)
    assert_quotes_verbatim(answer, full_corpus)
    assert_sendable(answer.text)


def test_without_a_tip_on_the_first_article_the_reply_starts_with_the_situation(full_corpus: Corpus) -> None:
    answer = compose_answer(DEBT_QUESTION, hits_for(full_corpus, [667, 675, 188]), corpus=full_corpus,
                            township=TOWNSHIP)  # fmt: skip
    assert answer.text.splitlines()[0] == "【借钱不还】相关法律规定：" and not answer.tip_led
    assert next(t for t in guide("借贷欠款") if t.number == 675).text in answer.text  # among the 建议


def test_a_tip_of_another_topic_may_lead_but_a_mediation_tip_never_does(full_corpus: Corpus) -> None:
    # 1245's tip is the injury topic's; a question in a debt's words, classified as one, still gets it first.
    dog = compose_answer("借钱不还，欠款也不还，借条也不认，还放狗咬我", hits_for(full_corpus, [1245]),
                         corpus=full_corpus, township=TOWNSHIP)  # fmt: skip
    assert dog.category == "借贷欠款" and dog.tip_led
    assert "饲养人或者管理人承担责任（《民法典》第一千二百四十五条）。" in dog.text.splitlines()[0]
    mediation = compose_answer("调解要花钱吗", hits_for(full_corpus, [4], law="人民调解法"), corpus=full_corpus,
                               township=TOWNSHIP)  # fmt: skip
    assert not mediation.tip_led and mediation.text.splitlines()[0].endswith("相关法律规定：")


def test_many_long_articles_fit_and_the_rest_waits_for_more(full_corpus: Corpus) -> None:
    longest = sorted(full_corpus.articles, key=lambda a: len(a.text), reverse=True)[:12]
    answer = compose_answer(
        "有关规定是什么", [hit(a) for a in longest], corpus=full_corpus, township=TOWNSHIP
    )
    assert_sendable(answer.text)
    assert 1 <= len(answer.cited) <= 3
    assert answer.more and not set(answer.more) & set(answer.cited)
    assert answer.cited + answer.more == tuple(a.key for a in longest)[: len(answer.cited) + len(answer.more)]
    assert MORE_HINT in answer.text
    assert ELLIPSIS in answer.text
    assert_quotes_verbatim(answer, full_corpus)


def test_long_article_is_trimmed_to_the_paragraph_the_question_is_about(full_corpus: Corpus) -> None:
    divorce = article(full_corpus, "民法典", 1079)
    assert len(divorce.paragraphs) == 5
    question = "法院判决不准离婚后又分居满一年，还能再起诉离婚吗"
    answer = compose_answer(question, [hit(divorce)], corpus=full_corpus, township=TOWNSHIP)
    body = quoted_blocks(answer)[divorce.short_citation]
    assert divorce.paragraphs[-1] in body
    assert ELLIPSIS in body and len(body) < len(divorce.text)
    assert_quotes_verbatim(answer, full_corpus)


def test_articles_are_quoted_from_the_corpus_not_from_the_hit(mini_corpus: Corpus) -> None:
    real = article(mini_corpus, "民法典", 675)
    doctored = replace(real, paragraphs=("借款人可以永远不还。",))
    answer = compose_answer(DEBT_QUESTION, [hit(doctored)], corpus=mini_corpus, township=TOWNSHIP)
    assert "永远不还" not in answer.text
    assert real.paragraphs[0] in answer.text


def test_articles_missing_from_the_corpus_are_dropped(mini_corpus: Corpus) -> None:
    invented = Article("中华人民共和国刑法", 266, ("诈骗公私财物，数额较大的……",))
    absent = Article("中华人民共和国民法典", 680, ("禁止高利放贷。",))  # real, but not in the mini corpus
    hits = [hit(invented), hit(absent), *hits_for(mini_corpus, [675])]
    answer = compose_answer(DEBT_QUESTION, hits, corpus=mini_corpus, township=TOWNSHIP)
    assert answer.cited == ("中华人民共和国民法典:675",)
    assert "刑法" not in answer.text and "第六百八十条" not in answer.text.split("建议：")[0]
    cited_articles(answer.text, mini_corpus)


@pytest.mark.parametrize("margins", [[], [-0.055], [-0.045, -0.05, -0.055]])
def test_weak_hits_give_a_plain_no_hit_reply(mini_corpus: Corpus, margins: list[float]) -> None:
    unrelated = [article(mini_corpus, "宪法", n) for n in (1, 2, 5)]
    hits = [hit(a, m, ("dense",)) for a, m in zip(unrelated, margins, strict=False)]
    answer = compose_answer("今天集市上猪肉多少钱一斤", hits, corpus=mini_corpus, township=TOWNSHIP)
    assert answer.no_hit and answer.cited == () and answer.more == ()
    assert NO_HIT_LINE in answer.text
    assert "《" not in answer.text, "a no-hit reply must not quote any article"
    assert "例如：“" in answer.text
    assert TOWNSHIP.mediation_contact in answer.text and TOWNSHIP.legal_adviser_contact in answer.text
    assert_sendable(answer.text)


def test_min_confidence_decides_between_answer_and_no_hit(mini_corpus: Corpus) -> None:
    hits = hits_for(mini_corpus, [675], margin=-0.005)
    lenient = compose_answer(DEBT_QUESTION, hits, corpus=mini_corpus, township=TOWNSHIP, min_confidence=0.1)
    strict = compose_answer(DEBT_QUESTION, hits, corpus=mini_corpus, township=TOWNSHIP, min_confidence=0.95)
    assert lenient.confidence == strict.confidence
    assert not lenient.no_hit and lenient.cited
    assert strict.no_hit and not strict.cited


def test_a_confident_reranker_vouches_for_a_weak_margin_but_not_against_the_on_topic_model(
    mini_corpus: Corpus,
) -> None:
    loan, lease = article(mini_corpus, "民法典", 675), article(mini_corpus, "民法典", 703)

    def reply(score: float, legal: float = 1.0) -> Answer:
        weak = [Hit(loan, score=score, retrievers=("bm25",), chunk_id=f"{loan.key}#0", dense_score=0.8,
                    dense_margin=-0.03),
                Hit(lease, score=score / 2, retrievers=("bm25",), chunk_id=f"{lease.key}#0", dense_score=0.8,
                    dense_margin=-0.03)]  # fmt: skip
        return compose_answer(DEBT_QUESTION, weak, corpus=mini_corpus, township=TOWNSHIP, legal=legal)

    assert reply(RERANKER_VOUCH).cited == (loan.key,)  # the first, vouched for; the second is no stronger
    assert reply(RERANKER_VOUCH - 0.01).no_hit
    assert reply(0.99, legal=MIN_LEGAL / 2).no_hit


def test_a_message_unlikely_to_be_a_legal_question_gets_the_no_hit_reply(mini_corpus: Corpus) -> None:
    hits = hits_for(mini_corpus, [675], margin=0.04)  # strong hits: only the on-topic model declines
    legal = compose_answer(DEBT_QUESTION, hits, corpus=mini_corpus, township=TOWNSHIP, legal=MIN_LEGAL)
    other = compose_answer(DEBT_QUESTION, hits, corpus=mini_corpus, township=TOWNSHIP, legal=MIN_LEGAL / 2)
    assert not legal.no_hit and legal.cited
    assert other.no_hit and not other.cited
    divorce = article(mini_corpus, "民法典", 1079)
    cited = compose_answer("民法典第1079条", [hit(divorce, None, ("direct",))], corpus=mini_corpus,
                           township=TOWNSHIP, legal=0.0)  # fmt: skip
    assert cited.cited == (divorce.key,)  # a directly cited article is answered whatever the model says


def test_a_directly_cited_article_is_answered_with_full_confidence(mini_corpus: Corpus) -> None:
    divorce = article(mini_corpus, "民法典", 1079)
    direct = hit(divorce, None, ("direct",))
    answer = compose_answer("民法典第1079条", [direct], corpus=mini_corpus, township=TOWNSHIP)
    assert answer.confidence == 1.0 and answer.cited == (divorce.key,)


@pytest.mark.parametrize("question", ["我老公喝了酒就打我", "他说要杀了我全家", "日子过不下去了，不想活了"])
def test_emergency_puts_110_and_the_protection_route_first(mini_corpus: Corpus, question: str) -> None:
    for hits in ([], hits_for(mini_corpus, [1079, 1042])):
        answer = compose_answer(question, hits, corpus=mini_corpus, township=TOWNSHIP)
        first = answer.text.splitlines()[0]
        assert answer.emergency
        assert "110" in first and "人身安全保护令" in first and "12338" in first
        assert_sendable(answer.text)


def test_ordinary_question_is_not_an_emergency(mini_corpus: Corpus) -> None:
    answer = compose_answer(
        DEBT_QUESTION, hits_for(mini_corpus, [675]), corpus=mini_corpus, township=TOWNSHIP
    )
    assert not answer.emergency and "110" not in answer.text


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question_does_not_crash(mini_corpus: Corpus, question: str) -> None:
    for hits in ([], hits_for(mini_corpus, [675])):
        answer = compose_answer(question, hits, corpus=mini_corpus, township=TOWNSHIP)
        assert answer.category in CATEGORIES
        assert_sendable(answer.text)


def test_markdown_in_a_local_document_is_not_sent(mini_corpus: Corpus) -> None:
    rule = Article("青山村村规民约", 3, ("**禁止**在村道上堆放柴草、`杂物`。",), kind="local")
    corpus = Corpus((*mini_corpus.articles, rule), mini_corpus.source_sha256)
    answer = compose_answer("村道上堆柴草", [hit(rule)], corpus=corpus, township=TOWNSHIP)
    assert "禁止在村道上堆放柴草、杂物。" in answer.text
    assert_sendable(answer.text)


def test_more_continues_with_the_held_back_articles(full_corpus: Corpus) -> None:
    longest = sorted(full_corpus.articles, key=lambda a: len(a.text), reverse=True)[:9]
    first = compose_answer("有关规定", [hit(a) for a in longest], corpus=full_corpus, township=TOWNSHIP)
    second = compose_more(first.more, corpus=full_corpus, township=TOWNSHIP)
    assert second.cited and second.cited == first.more[: len(second.cited)]
    assert second.more == first.more[len(second.cited) :]
    assert (MORE_HINT in second.text) == bool(second.more)
    cited_articles(second.text, full_corpus)
    assert_quotes_verbatim(second, full_corpus)
    assert_sendable(second.text)


def test_more_skips_unknown_keys_and_says_when_nothing_is_left(mini_corpus: Corpus) -> None:
    keys = ("中华人民共和国刑法:266", "中华人民共和国民法典:676", "not a key")
    answer = compose_more(keys, corpus=mini_corpus, township=TOWNSHIP)
    assert answer.cited == ("中华人民共和国民法典:676",) and answer.more == ()
    empty = compose_more(("中华人民共和国刑法:266",), corpus=mini_corpus, township=TOWNSHIP)
    assert empty.cited == () and "《" not in empty.text
    assert_sendable(empty.text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_hits_give_a_sendable_reply_citing_only_real_articles(
    full_corpus: Corpus, data: st.DataObject
) -> None:
    articles = data.draw(
        st.lists(st.sampled_from(full_corpus.articles), max_size=10, unique_by=lambda a: a.key)
    )
    margins = data.draw(st.lists(st.floats(-0.15, 0.07), min_size=len(articles), max_size=len(articles)))
    source = data.draw(st.sampled_from(articles)) if articles else None
    question = source.text[:30] if source else data.draw(st.text(max_size=40))
    answer = compose_answer(
        question,
        [hit(a, m) for a, m in zip(articles, margins, strict=True)],
        corpus=full_corpus,
        township=TOWNSHIP,
    )
    assert_sendable(answer.text)
    cited_articles(answer.text, full_corpus)
    assert set(answer.cited) <= {a.key for a in articles}
    assert answer.no_hit == (not answer.cited)
    assert 0.0 <= answer.confidence <= 1.0
    assert len(answer.text.encode()) <= MAX_REPLY_BYTES


def test_a_strong_hit_outside_the_corpus_does_not_vouch_for_weak_ones(mini_corpus: Corpus) -> None:
    invented = Article("中华人民共和国刑法", 266, ("诈骗公私财物，数额较大的……",))
    weak = hit(article(mini_corpus, "宪法", 1), -0.025, ("dense",))
    answer = compose_answer("被人骗了钱", [hit(invented, 0.07), weak], corpus=mini_corpus, township=TOWNSHIP)
    assert answer.no_hit and "《" not in answer.text


LOAN_KEYS = ("中华人民共和国民法典:675", "中华人民共和国民法典:188")
LOST_IOU_ANSWER = "借条丢了，转账记录、聊天记录和证人也能证明借款，先催告，再找村调解委员会。"


def curated(answer: str = LOST_IOU_ANSWER, keys: tuple[str, ...] = LOAN_KEYS) -> CuratedMatch:
    return CuratedMatch(id=7, answer=answer, article_keys=keys, category="借贷欠款", similarity=0.981)


def test_a_curated_answer_comes_first_then_its_articles_quoted(full_corpus: Corpus) -> None:
    answer = compose_curated("借条找不到了，钱还能要回来吗", curated(), corpus=full_corpus, township=TOWNSHIP)
    lines = answer.text.splitlines()
    assert lines[:2] == [f"【借钱不还】{LOST_IOU_ANSWER}", "相关法律规定："]
    assert (answer.cited, answer.more, answer.curated_id) == (LOAN_KEYS, (), 7)
    assert (answer.category, answer.confidence) == ("借贷欠款", 0.981)
    assert not answer.no_hit and not answer.emergency
    assert cited_articles(answer.text, full_corpus) == [("民法典", 675), ("民法典", 188)]
    assert_quotes_verbatim(answer, full_corpus)
    assert "拨打12348法律服务热线" in answer.text and lines[-1] == DISCLAIMER
    assert MORE_HINT not in answer.text
    assert_sendable(answer.text)


def test_a_long_curated_answer_is_cut_to_the_byte_limit_keeping_the_disclaimer(full_corpus: Corpus) -> None:
    longest = sorted(full_corpus.articles, key=lambda a: len(a.text), reverse=True)[:5]
    text = ("借条丢了，转账记录也能证明借款。" * 200)[:MAX_ANSWER_CHARS]
    answer = compose_curated("借条丢了", curated(text, tuple(a.key for a in longest)),
                             corpus=full_corpus, township=TOWNSHIP)  # fmt: skip
    assert len(answer.text.encode()) <= MAX_REPLY_BYTES < len(text.encode())
    assert answer.text.startswith(f"【借钱不还】{text[:100]}")
    assert len(answer.cited) >= 1 and answer.cited + answer.more == tuple(a.key for a in longest)
    assert MORE_HINT in answer.text and answer.text.endswith(DISCLAIMER)
    assert_quotes_verbatim(answer, full_corpus)


def test_curated_citations_missing_from_the_corpus_are_dropped(mini_corpus: Corpus) -> None:
    keys = ("中华人民共和国刑法:266", "中华人民共和国民法典:675", "not a key")
    answer = compose_curated("借钱不还", curated(keys=keys), corpus=mini_corpus, township=TOWNSHIP)
    assert answer.cited == ("中华人民共和国民法典:675",) and "刑法" not in answer.text
    cited_articles(answer.text, mini_corpus)
    none_left = compose_curated("借钱不还", curated(keys=keys[:1]), corpus=mini_corpus, township=TOWNSHIP)
    assert none_left.cited == () and "《" not in none_left.text and "相关法律规定" not in none_left.text
    assert LOST_IOU_ANSWER in none_left.text and none_left.text.endswith(DISCLAIMER)


def test_an_emergency_question_puts_110_before_the_curated_answer(mini_corpus: Corpus) -> None:
    question = "他喝了酒就打我，借我的钱也不还"
    answer = compose_curated(question, curated(), corpus=mini_corpus, township=TOWNSHIP)
    assert answer.emergency and "110" in answer.text.splitlines()[0]
    assert answer.text.index("110") < answer.text.index(LOST_IOU_ANSWER)
    assert_sendable(answer.text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_curated_answer_gives_a_sendable_reply(full_corpus: Corpus, data: st.DataObject) -> None:
    chosen = st.lists(st.sampled_from(full_corpus.articles), max_size=8, unique_by=lambda a: a.key)
    articles = data.draw(chosen)
    text = data.draw(st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), min_size=1,
                             max_size=MAX_ANSWER_CHARS).filter(str.strip))  # fmt: skip
    question = data.draw(st.sampled_from(["借条丢了", "我老公喝了酒就打我", ""]))
    answer = compose_curated(question, curated(text, tuple(a.key for a in articles)),
                             corpus=full_corpus, township=TOWNSHIP)  # fmt: skip
    assert len(answer.text.encode()) <= MAX_REPLY_BYTES and answer.text.endswith(DISCLAIMER)
    cited_articles(answer.text, full_corpus)
    assert set(answer.cited) <= {a.key for a in articles}


def test_a_village_law_answer_says_which_body_the_matter_goes_to(village_sample_corpus: Corpus) -> None:
    """劳动仲裁 before a court for a dismissal; 交警's certificate for a crash; the three laws add nothing."""
    fired = compose_answer("没签合同干了两年被辞退了能要啥", hits_for(village_sample_corpus, [82, 87], "劳动合同法"),
                           corpus=village_sample_corpus, township=TOWNSHIP)  # fmt: skip
    assert "去哪儿办：" in fired.text and "劳动仲裁" in fired.text and "《劳动争议调解仲裁法》第五条" in fired.text
    assert fired.text.index("劳动仲裁") < fired.text.index("到法院起诉")
    crash = compose_answer("骑电瓶车被小轿车撞了谁赔", hits_for(village_sample_corpus, [76], "道路交通安全法"),
                           corpus=village_sample_corpus, township=TOWNSHIP)  # fmt: skip
    assert "交警认定" in crash.text and "《道路交通安全法》第七十四条" in crash.text
    for answer in (fired, crash):
        assert_sendable(answer.text)
        assert all(village_sample_corpus.get(law, n) for law, n in cited_articles(answer.text, village_sample_corpus))


def test_the_three_laws_alone_add_no_body_line(full_corpus: Corpus) -> None:
    answer = compose_answer(DEBT_QUESTION, hits_for(full_corpus, [675, 667]), corpus=full_corpus, township=TOWNSHIP)
    assert "去哪儿办" not in answer.text
