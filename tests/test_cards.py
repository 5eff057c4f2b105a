"""Situation cards: the shipped data is sound, bad files fail with file and line, replies led by a card."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bot import cli
from bot.answers.cards import (
    Card,
    CardsDataError,
    cards,
    check_cards,
    check_shipped_cards,
    cited_in,
    load_card_file,
    load_cards,
    unsupported_sentences,
    usable_cards,
)
from bot.answers.composer import compose_answer, compose_card
from bot.answers.guides import Tip
from bot.answers.topics import CATEGORIES
from bot.conversation.card_match import MATCH_THRESHOLD, CardMatcher
from bot.conversation.consultation import Consultant
from bot.search.retrieval import Retrieval
from indexing.retrieval import Hit
from knowledge.articles import Article
from knowledge.corpus import Corpus
from tests.reply_checks import TOWNSHIP, assert_sendable, cited_articles

GOOD: dict[str, object] = {
    "id": "t-fenjia",
    "situation": "儿子以分家为由不养老人",
    "examples": ["分了家儿子就不管我了"],
    "answer": "不能。成年子女对父母负有赡养义务（《民法典》第二十六条）。",
    "articles": ["民法典 26"],
    "tips": [{"tip": "可以申请调解", "law": "人民调解法", "number": 17}],
    "contact": "赡养抚养",
}


def card_file(*entries: Mapping[str, object], topic: str = "赡养抚养") -> str:
    return json.dumps({"topic": topic, "cards": list(entries)}, ensure_ascii=False, indent=2)


def test_the_shipped_cards_cover_every_topic_weighted_to_what_villagers_ask() -> None:
    shipped = cards()
    assert len(shipped) >= 150
    per_topic = {c: sum(card.topic == c for card in shipped) for c in CATEGORIES}
    assert all(per_topic.values()), per_topic
    assert per_topic["赡养抚养"] >= 15 and per_topic["婚姻家庭"] >= 20
    assert all(card.contact in CATEGORIES for card in shipped)


def test_every_plain_answer_sentence_ends_with_the_article_it_rests_on() -> None:
    for card in cards():
        assert unsupported_sentences(card.answer) == [], card.id
        assert set(cited_in(card.answer)) <= set(card.articles), card.id


def test_every_article_a_card_names_is_in_the_corpus(full_corpus: Corpus, township_corpus: Corpus) -> None:
    assert check_cards(cards(), full_corpus) == []
    assert check_shipped_cards(township_corpus) == len(cards())
    for card in cards():
        cited_articles(card.answer, township_corpus)  # every 《…》第N条 exists
        for tip in card.tips:
            assert township_corpus.get(tip.law, tip.number) is not None, (card.id, tip)


def test_the_laws_of_village_life_take_over_their_civil_code_twins(
    full_corpus: Corpus, township_corpus: Corpus
) -> None:
    """With the 19 laws, a card on 劳动法 or 反家庭暴力法 answers in place of the 民法典 card it replaces; with
    the three laws alone, that 民法典 card still answers. Either way each situation has one card."""
    replacing = [card for card in cards() if card.replaces]
    assert len(replacing) >= 5
    three, nineteen = ({c.id for c in usable_cards(cards(), corpus)} for corpus in (full_corpus, township_corpus))
    for card in replacing:
        assert card.id in nineteen and card.replaces not in nineteen, card.id
        assert card.replaces in three and card.id not in three, card.id
    on_new_laws = [c for c in cards() if any(township_corpus.resolve_law(law) and not full_corpus.resolve_law(law)
                                              for law, _ in c.articles)]  # fmt: skip
    assert len(on_new_laws) >= 10 and {c.id for c in on_new_laws} <= nineteen - three


def test_a_replacement_is_used_only_where_the_corpus_can_quote_it(full_corpus: Corpus, township_corpus: Corpus) -> None:
    elder_law = dict(GOOD, id="t-fenjia-elder", replaces="t-fenjia", articles=["老年人权益保障法 19"],
                     answer="不能。子女不能拿分家当理由不养老人（《老年人权益保障法》第十九条）。")  # fmt: skip
    other = dict(GOOD, id="t-other")
    loaded = load_cards([("a.json", card_file(GOOD, other)), ("b.json", card_file(elder_law))])
    assert [c.id for c in usable_cards(loaded, full_corpus)] == ["t-fenjia", "t-other"]
    assert [c.id for c in usable_cards(loaded, township_corpus)] == ["t-other", "t-fenjia-elder"]


@pytest.mark.parametrize(
    ("replaces", "message"),
    [
        ("t-nobody", r"b\.json:\d+: card t-new replaces 't-nobody', which is no other card"),
        ("t-new", r"replaces 't-new', which is no other card"),
        ("t-middle", r"card t-new replaces t-middle, itself a replacement"),
        (7, r"card t-new: replaces must be a string"),
    ],
)
def test_a_replacement_naming_no_card_or_a_chain_is_refused(replaces: object, message: str) -> None:
    middle = dict(GOOD, id="t-middle", replaces="t-fenjia")
    with pytest.raises(CardsDataError, match=message):
        new = dict(GOOD, id="t-new", replaces=replaces)
        load_cards([("a.json", card_file(GOOD, middle)), ("b.json", card_file(new))])


def test_a_sentence_without_its_citation_is_refused_with_file_and_line() -> None:
    bad = dict(GOOD, id="t-bad", answer="不能。子女必须赡养父母。")
    text = card_file(GOOD, bad)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if '"t-bad"' in row)
    with pytest.raises(CardsDataError, match=rf"cards/x\.json:{line}: card t-bad: .*must end with its citation"):
        load_card_file(text, "cards/x.json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"topic": "赡养抚养", "cards": [\n  {"id": "x",}\n]}', r"x\.json:2: not valid JSON"),
        (card_file(GOOD, topic="家长里短"), r"x\.json:2: topic '家长里短'"),
        (card_file(dict(GOOD, articles=["第26条"])), r"x\.json:5: card t-fenjia: article '第26条'"),
        (card_file(dict(GOOD, articles=["民法典 1067"])), r"rests on articles the card does not quote"),
        (card_file(dict(GOOD, examples=[])), r"1-12 examples"),
        (card_file(GOOD, GOOD), None),
    ],
)
def test_malformed_card_files_name_the_file_and_line(text: str, message: str | None) -> None:
    if message is None:  # duplicate ids are caught over all files, by cards(): one file alone loads
        assert len(load_card_file(text, "x.json")) == 2
        return
    with pytest.raises(CardsDataError, match=message):
        load_card_file(text, "x.json")


def test_a_card_citing_an_absent_article_stops_the_build(mini_corpus: Corpus) -> None:
    """The mini corpus lacks most cards' articles: the build check names each card, file and line."""
    with pytest.raises(CardsDataError, match=r"bot/data/cards/\w+\.json:\d+: card [\w-]+ cites articles not in"):
        check_shipped_cards(mini_corpus)


def test_every_card_leads_a_sendable_reply_quoting_its_articles_verbatim(township_corpus: Corpus) -> None:
    for card in cards():
        answer = compose_card(card.examples[0], card, [], corpus=township_corpus, township=TOWNSHIP)
        assert_sendable(answer.text)
        lead = answer.text.split("\n\n")[0].splitlines()
        assert f"【{card.situation}】{card.answer}" == lead[-2], card.id  # after any emergency lines
        assert answer.emergency == (len(lead) > 2)
        assert answer.card_id == card.id and answer.category == card.topic
        quoted = [township_corpus.get(law, n) for law, n in card.articles]
        assert answer.cited[0] == quoted[0].key, card.id  # type: ignore[union-attr]
        assert set(answer.cited) <= {a.key for a in quoted if a is not None}
        cited_articles(answer.text, township_corpus)
        if card.tips:
            assert "建议：" + card.tips[0].text in answer.text, card.id


def test_a_card_reply_holds_the_other_retrieved_articles_for_more(full_corpus: Corpus) -> None:
    card = next(c for c in cards() if c.id == "shanyang-fenjia")
    others = [_hit(full_corpus, 303), _hit(full_corpus, 1067), _hit(full_corpus, 304)]
    answer = compose_card("分家了儿子不养我", card, others, corpus=full_corpus, township=TOWNSHIP)
    assert answer.cited == ("中华人民共和国民法典:26", "中华人民共和国民法典:1067")
    assert answer.more == ("中华人民共和国民法典:303", "中华人民共和国民法典:304")
    assert "第三百零三条" not in answer.text.split("建议：")[0]


def test_tips_appear_only_when_their_article_is_quoted(full_corpus: Corpus) -> None:
    """The 婚姻家庭 guide has tips on 1076 (协议离婚), 1079 and 1084: a reply quoting 1079 alone shows only
    the 1079 tip (leading the reply: its article is the first quoted); one quoting nothing of the guide shows
    none."""
    answer = compose_answer("他不同意离婚怎么办", [_hit(full_corpus, 1079)], corpus=full_corpus, township=TOWNSHIP)
    assert "第一千零七十九条" in answer.text.splitlines()[0] and answer.tip_led
    assert "第一千零七十六条" not in answer.text and "第一千零八十四条" not in answer.text
    engaged = compose_answer("订婚了想退婚", [_hit(full_corpus, 1042)], corpus=full_corpus, township=TOWNSHIP)
    assert engaged.category == "婚姻家庭" and "建议：" not in engaged.text


def test_a_second_or_third_article_is_quoted_only_when_it_scores_close_to_the_first(full_corpus: Corpus) -> None:
    hits = [_hit(full_corpus, 675, 0.9), _hit(full_corpus, 188, 0.5), _hit(full_corpus, 667, 0.05)]
    answer = compose_answer("借钱不还", hits, corpus=full_corpus, township=TOWNSHIP)
    assert answer.cited == ("中华人民共和国民法典:675", "中华人民共和国民法典:188")
    assert answer.more == ("中华人民共和国民法典:667",)
    assert "回复“更多”" in answer.text


def test_the_matcher_needs_the_cards_first_article_on_top_and_a_close_phrasing(full_corpus: Corpus) -> None:
    shipped = [_card("a", "儿子不养老人", 1067), _card("b", "狗咬伤了人", 1245)]
    matcher = CardMatcher(_bag_of_characters, corpus=full_corpus, shipped=shipped)
    vector = _bag_of_characters("儿子不养老人")
    found = matcher.match(vector, [_hit(full_corpus, 1067)])
    assert found is not None and found.card.id == "a" and found.similarity >= MATCH_THRESHOLD
    assert matcher.match(vector, [_hit(full_corpus, 1245), _hit(full_corpus, 1067)]) is None  # retrieval disagrees
    assert matcher.match(vector, []) is None
    assert matcher.match(_bag_of_characters("狗不养老人咬"), [_hit(full_corpus, 1067)]) is None  # b lies closer


def test_cards_citing_articles_outside_the_corpus_are_left_out(mini_corpus: Corpus) -> None:
    matcher = CardMatcher(_bag_of_characters, corpus=mini_corpus)
    assert len(matcher.cards) < len(cards())
    assert check_cards(matcher.cards, mini_corpus) == []


class _Found:
    """A retrieval pool answering every question at once with the same hits and the question's vector."""

    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits

    def submit(self, question: str) -> Future[Retrieval]:
        done: Future[Retrieval] = Future()
        done.set_result(Retrieval(tuple(self.hits), _bag_of_characters(question), 1.0))
        return done

    def close(self) -> None:
        pass


def test_the_consultant_leads_with_the_matching_card_else_composes(full_corpus: Corpus) -> None:
    shipped = [c for c in cards() if c.id in ("shanyang-zaihun", "sunhai-gouyao")]
    matcher = CardMatcher(_bag_of_characters, corpus=full_corpus, shipped=shipped)
    retriever = SimpleNamespace(corpus=full_corpus)
    question = shipped[0].examples[0]
    agreeing = Consultant(retriever, TOWNSHIP, workers=1, pool=_Found([_hit(full_corpus, 1069)]), cards=matcher)  # type: ignore[arg-type]
    answer = agreeing.ask(question, deadline=time.monotonic() + 30).answer
    assert answer.card_id == "shanyang-zaihun" and answer.text.startswith("【父母再婚后子女不管老人】不能。")
    other = Consultant(retriever, TOWNSHIP, workers=1, pool=_Found([_hit(full_corpus, 1245)]), cards=matcher)  # type: ignore[arg-type]
    composed = other.ask(question, deadline=time.monotonic() + 30).answer
    assert composed.card_id is None and not composed.no_hit and "不能。" not in composed.text


def _hit(corpus: Corpus, number: int, score: float = 0.5) -> Hit:
    article = corpus.get("民法典", number)
    assert isinstance(article, Article)
    return Hit(article, score=score, retrievers=("bm25", "dense"), chunk_id=f"{article.key}#0",
               dense_score=0.85, dense_margin=0.03)  # fmt: skip


def _card(card_id: str, situation: str, number: int) -> Card:
    return Card(card_id, "其他", situation, (situation,), "看情况（《民法典》第一条）。", (("民法典", number),),
                (Tip("可以调解", "人民调解法", 17),), "其他")  # fmt: skip


def _bag_of_characters(text: str) -> np.ndarray:
    """A stand-in encoder: a unit vector of character counts, so equal texts meet at cosine 1."""
    vector = np.zeros(4096, dtype=np.float32)
    for ch in text:
        vector[ord(ch) % 4096] += 1.0
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def test_pufa_build_stops_on_a_malformed_card_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI names the file and line and exits with 2 before embedding anything."""
    (tmp_path / "broken.json").write_text(card_file(GOOD, dict(GOOD, id="t-2", answer="不能。")), encoding="utf-8")
    monkeypatch.setattr("bot.answers.cards.card_files", lambda: [tmp_path / "broken.json"])
    monkeypatch.setenv("PUFA_DATA_DIR", str(tmp_path / "data"))
    cards.cache_clear()
    try:
        assert cli.main(["build"]) == 2
    finally:
        cards.cache_clear()
    error = capsys.readouterr().err
    assert "pufa build: error: bot/data/cards/broken.json:" in error and "card t-2" in error
    assert not (tmp_path / "data" / "index").exists()
