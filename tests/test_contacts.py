"""Contacts by topic (bot/answers/contacts.py): the referral line of composed replies and the menu guides name
who fits the topic, national defaults that a township's PUFA_CONTACTS replaces; bad overrides stop the settings."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.answers import replies
from bot.answers.composer import compose_answer
from bot.answers.contacts import ContactsError, default_contacts, parse_overrides
from bot.answers.text import MAX_REPLY_BYTES, utf8_len
from bot.answers.topics import CATEGORIES
from bot.answers.township import Township
from bot.app import township_from_settings
from bot.settings import Settings
from indexing.retrieval import Hit
from knowledge.corpus import Corpus
from tests.reply_checks import TOWNSHIP, assert_sendable

WAGES = "包工头跑了，干了半年的工钱一直不给怎么办"
ACCIDENT = "骑电动车被汽车撞了，对方不肯赔医药费怎么办"
DOG_BITE = "被邻居家的狗咬伤了，医药费谁出"
BEATEN = "老公天天打俺，喝了酒就揍我"


def _hits(corpus: Corpus, numbers: tuple[int, ...]) -> list[Hit]:
    articles = [corpus.get("民法典", n) for n in numbers]
    return [
        Hit(a, score=0.025, retrievers=("bm25", "dense"), chunk_id=f"{a.key}#0", dense_score=0.85, dense_margin=0.025)
        for a in articles
        if a is not None
    ]


def _reply(question: str, corpus: Corpus, numbers: tuple[int, ...], township: Township = TOWNSHIP) -> str:
    answer = compose_answer(question, _hits(corpus, numbers), corpus=corpus, township=township)
    assert not answer.no_hit, answer.text
    assert_sendable(answer.text)
    return answer.text


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, township="青山镇", **values)


def test_a_wage_question_names_labour_inspection_12333_and_arbitration(mini_corpus: Corpus) -> None:
    text = _reply(WAGES, mini_corpus, (577, 509))
    assert "劳动保障监察12333" in text and "劳动人事争议仲裁委员会" in text
    assert "12348法律服务热线" in text  # everyone's contacts stay
    assert "122" not in text and "12338" not in text


def test_an_accident_names_the_traffic_police_122_and_the_insurer(mini_corpus: Corpus) -> None:
    text = _reply(ACCIDENT, mini_corpus, (1208, 1179))
    assert "交警122" in text and "保险公司" in text


def test_contacts_fit_what_happened_not_only_the_topic(mini_corpus: Corpus) -> None:
    """A dog bite is an injury too, but no traffic police; a beaten wife gets 110 and 妇联 12338."""
    bite = _reply(DOG_BITE, mini_corpus, (1245, 1179))
    assert "122" not in bite and "保险公司" not in bite
    bumped = _reply("打篮球被人撞伤了腿，医药费找谁要", mini_corpus, (1165, 1179))  # 撞 without a vehicle
    assert "122" not in bumped and "保险公司" not in bumped
    chased = _reply("骑车被狗追摔倒了，狗主人说没咬到不赔", mini_corpus, (1245, 1179))  # a vehicle, no crash
    assert "122" not in chased and "保险公司" not in chased
    knocked = _reply("俺骑电动车把一个老太太碰倒了，她家要俺赔钱", mini_corpus, (1165, 1179))
    assert "交警122" in knocked
    beaten = _reply(BEATEN, mini_corpus, (1042, 1079))
    assert "妇联维权热线12338" in beaten and "报警110" in beaten


def test_a_loan_keeps_the_plain_referral_line(mini_corpus: Corpus) -> None:
    text = _reply("邻居借了我五千块钱一直不还怎么办", mini_corpus, (675, 188))
    assert "需要人帮忙：回复“调解”，或拨打12348法律服务热线。" in text


def test_a_township_override_replaces_the_default(mini_corpus: Corpus) -> None:
    override = {"劳动报酬（工钱）": ["县劳动监察大队 0797-1234567"], "消费维权": []}
    township = township_from_settings(_settings(contacts=json.dumps(override, ensure_ascii=False)))
    text = _reply(WAGES, mini_corpus, (577, 509), township)
    assert "县劳动监察大队 0797-1234567" in text and "12333" not in text
    assert township.topic_contacts("消费维权") == ""  # an empty list names nobody
    assert township.topic_contacts("房屋宅基地") == "青山镇人民政府"  # topics not overridden keep the default


def test_an_override_may_be_a_file(tmp_path: Path) -> None:
    path = tmp_path / "contacts.json"
    path.write_text(json.dumps({"土地承包": [{"name": "县农经站", "phone": "0797-7654321"}]}), encoding="utf-8")
    township = township_from_settings(_settings(contacts=str(path)))
    assert township.topic_contacts("土地承包") == "县农经站0797-7654321"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"工资": ["劳动监察"]}', "unknown topic '工资'"),
        ('{"劳动报酬（工钱）": ["劳动监察"', "not valid JSON"),
        ('{"劳动报酬（工钱）": "劳动监察"}', "expected a list"),
        ('{"劳动报酬（工钱）": [{"name": ""}]}', "needs a name"),
        ('{"劳动报酬（工钱）": [{"name": "监察", "tel": "12333"}]}', "a contact is text or"),
        ('{"人身损害赔偿": [{"name": "交警", "also": ["撞"]}]}', "'also' narrows 'words'"),
        ("/no/such/contacts.json", "no readable file"),
        ('["劳动监察"]', "expected an object"),
    ],
)
def test_a_bad_override_fails_settings_validation_clearly(value: str, message: str) -> None:
    with pytest.raises(ValidationError) as failure:
        _settings(contacts=value)
    assert "PUFA_CONTACTS" in str(failure.value) and message in str(failure.value)


def test_the_defaults_name_the_national_numbers() -> None:
    book = default_contacts()
    assert set(dict(book.topics)) <= set(CATEGORIES)
    lines = {c: book.line(c, "青山镇", "") for c in CATEGORIES}
    assert "12333" in lines["劳动报酬（工钱）"] and "12315" in lines["消费维权"]
    assert lines["房屋宅基地"] == "青山镇人民政府" and "农村土地承包仲裁委员会" in lines["土地承包"]
    assert "12338" in lines["婚姻家庭"] and "110" not in lines["婚姻家庭"]  # 110 only when violence is told
    with pytest.raises(ContactsError, match="expected an object"):
        parse_overrides(["12333"])


def test_menu_guides_name_the_topics_contacts() -> None:
    land = replies.menu_topic("TOPIC_LAND", TOWNSHIP)
    marriage = replies.menu_topic("TOPIC_MARRIAGE", TOWNSHIP)
    assert land is not None and "可以找：青山镇人民政府、农村土地承包仲裁委员会" in land
    assert marriage is not None and "妇联维权热线12338" in marriage and "报警110" not in marriage


def test_long_contacts_still_fit_the_reply_limit(mini_corpus: Corpus) -> None:
    """Four 60-character contacts for wages: the reply makes room (shorter quotes), never exceeds 2048 bytes."""
    long = [{"name": f"{'县人力资源和社会保障局劳动保障监察大队' * 2}{i}", "phone": "0797-1234567"} for i in range(4)]
    township = replace(TOWNSHIP, contacts=default_contacts().replaced(parse_overrides({"劳动报酬（工钱）": long})))
    text = _reply(WAGES, mini_corpus, (577, 509, 1165, 1179), township)
    assert utf8_len(text) <= MAX_REPLY_BYTES and "劳动保障监察大队3" in text
    for key in replies.MENU_KEYS:
        assert utf8_len(replies.menu_topic(key, township) or "") <= MAX_REPLY_BYTES
