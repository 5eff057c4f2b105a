"""Conversation turns over real HTTP: events, 更多, 人工 / 调解, voice, and the per-user rate limit.

Each test writes as a fresh WeChat user to the session's live server (tests/fixtures/web.py) and checks
both the reply and what the activity record holds afterwards.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.answers import replies
from bot.answers.composer import compose_more
from bot.answers.township import Township
from indexing.retrieval import Retriever
from tests.fixtures.web import (
    LIVE_RATE_LIMIT,
    FakeWeChat,
    consultations,
    events,
    expected_answer,
    new_msg_id,
    new_openid,
    push_xml,
)

QUESTION = "邻居借了我五千块钱一直不还怎么办"
MANY_ARTICLES_QUESTION = "朋友借钱不还还拉黑我"  # more relevant articles in the mini corpus than a reply quotes


def test_subscribe_click_and_unsubscribe(
    wechat: FakeWeChat, live_township: Township, live_sessions: sessionmaker[Session]
) -> None:
    openid, t0 = new_openid(), int(time.time())
    welcome = replies.welcome(live_township)
    assert wechat.event(openid, "subscribe", create_time=t0).content == welcome
    assert wechat.event(openid, "subscribe", create_time=t0).content == welcome  # WeChat's retry
    debt = wechat.event(openid, "CLICK", "TOPIC_DEBT", create_time=t0 + 1)
    assert debt.content == replies.menu_topic("TOPIC_DEBT", live_township)
    unknown = wechat.event(openid, "CLICK", "NO_SUCH_KEY", create_time=t0 + 2)
    assert unknown.content == replies.help_text(live_township)
    gone = wechat.event(openid, "unsubscribe", create_time=t0 + 3)
    assert (gone.status, gone.body) == (200, "success")
    recorded = [(e.kind, e.key, e.create_time) for e in events(live_sessions, openid=openid)]
    assert recorded == [  # the retried subscribe is counted once
        ("subscribe", None, t0),
        ("click", "TOPIC_DEBT", t0 + 1),
        ("click", "NO_SUCH_KEY", t0 + 2),
        ("unsubscribe", None, t0 + 3),
    ]
    assert consultations(live_sessions, openid=openid) == []


def test_more_after_a_question(
    wechat: FakeWeChat,
    live_township: Township,
    live_retriever: Retriever,
    live_sessions: sessionmaker[Session],
) -> None:
    openid = new_openid()
    assert wechat.ask(openid, "更多").content == replies.no_more(live_township)  # nothing asked yet
    wechat.ask(openid, MANY_ARTICLES_QUESTION)
    (row,) = consultations(live_sessions, openid=openid)
    held_back = tuple(row.more)
    assert held_back, "the mini corpus should leave articles for 更多 on this question"
    more = wechat.ask(openid, " 更多。")
    expected = compose_more(held_back[:3], corpus=live_retriever.corpus, township=live_township)
    assert more.content == expected.text
    (row,) = consultations(live_sessions, openid=openid)  # 更多 is a turn, not a new consultation
    assert tuple(row.more) == held_back[3:]


def test_person_request_flags_the_consultation(
    wechat: FakeWeChat, live_township: Township, live_sessions: sessionmaker[Session]
) -> None:
    openid = new_openid()
    wechat.ask(openid, QUESTION)
    assert wechat.ask(openid, "人工").content == replies.person_contacts(live_township)
    (row,) = consultations(live_sessions, openid=openid)
    assert row.asked_for_person and row.question == QUESTION


def test_mediation_request_without_a_question_is_recorded(
    wechat: FakeWeChat, live_township: Township, live_sessions: sessionmaker[Session]
) -> None:
    openid = new_openid()
    assert wechat.ask(openid, "调解").content == replies.person_contacts(live_township)
    (row,) = consultations(live_sessions, openid=openid)
    assert row.asked_for_person and row.category == "调解程序"


def test_voice_with_recognition_is_a_question(
    wechat: FakeWeChat,
    live_township: Township,
    live_retriever: Retriever,
    live_sessions: sessionmaker[Session],
) -> None:
    openid = new_openid()
    xml = push_xml(
        openid, "voice", msg_id=new_msg_id(), MediaId="m", Format="amr", Recognition=QUESTION + "。"
    )
    answer = wechat.post(xml, openid=openid)
    assert answer.content == expected_answer(live_retriever, QUESTION + "。", live_township)
    (row,) = consultations(live_sessions, openid=openid)
    assert row.question == QUESTION + "。"


@pytest.mark.parametrize("recognition", [None, "", "。"])
def test_voice_without_recognition_asks_to_type(
    recognition: str | None, wechat: FakeWeChat, live_township: Township, live_sessions: sessionmaker[Session]
) -> None:
    openid = new_openid()
    extra = {"Recognition": recognition} if recognition is not None else {}
    answer = wechat.post(
        push_xml(openid, "voice", msg_id=new_msg_id(), MediaId="m", Format="amr", **extra), openid=openid
    )
    assert answer.content == replies.voice_without_text(live_township)
    assert consultations(live_sessions, openid=openid) == []


def test_rate_limit_per_user(wechat: FakeWeChat, live_township: Township) -> None:
    openid, other = new_openid(), new_openid()
    answers = [wechat.ask(openid, "帮助").content for _ in range(LIVE_RATE_LIMIT + 1)]
    help_text, limited = replies.help_text(live_township), replies.rate_limited(live_township)
    assert answers == [help_text] * LIVE_RATE_LIMIT + [limited]
    assert wechat.ask(other, "帮助").content == replies.help_text(live_township)  # others are not affected


@pytest.mark.parametrize("message", ["你好", "您好！", "在吗？", "谢谢", "谢谢你", "好的", "哦"])
def test_greetings_and_thanks_get_a_welcome_not_a_refusal(
    message: str, wechat: FakeWeChat, live_township: Township, live_sessions: sessionmaker[Session]
) -> None:
    openid = new_openid()
    reply = wechat.ask(openid, message).content
    assert reply == replies.small_talk(message, live_township)
    assert "没有找到" not in reply and all(q in reply for q in replies.HELP_EXAMPLES)
    assert consultations(live_sessions, openid=openid) == []  # not a consultation: 普法 counts stay true


def test_a_greeting_before_a_question_is_answered_as_the_question(
    wechat: FakeWeChat,
    live_township: Township,
    live_retriever: Retriever,
    live_sessions: sessionmaker[Session],
) -> None:
    openid, question = new_openid(), "你好，" + QUESTION
    assert wechat.ask(openid, question).content == expected_answer(live_retriever, question, live_township)
    (row,) = consultations(live_sessions, openid=openid)
    assert row.question == question


@pytest.mark.parametrize("question", ["老公天天打俺", "男人喝了酒就揍俺，往死里打"])
def test_a_beating_told_in_dialect_opens_with_110_and_is_flagged(
    question: str, wechat: FakeWeChat, live_sessions: sessionmaker[Session]
) -> None:
    openid = new_openid()
    reply = wechat.ask(openid, question).content
    assert reply.startswith("【紧急】") and "110" in reply.split("\n")[0]
    (row,) = consultations(live_sessions, openid=openid)
    assert row.emergency
