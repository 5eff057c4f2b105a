"""The development simulator: its page, and messages that take the real webhook path (channel simulator)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from bot.answers import replies
from bot.answers.composer import compose_answer, compose_card
from bot.app import create_app, township_from_settings
from bot.conversation.card_match import CardMatcher
from bot.records.database import make_engine, make_session_factory
from bot.records.models import Consultation, Event
from bot.records.privacy import pseudonymize
from bot.search.retrieval import retrieve
from bot.settings import Settings
from indexing.retrieval import Retriever
from tests.fixtures.web import (
    AES_KEY,
    TEST_SECRET_KEY,
    FakeWeChat,
    LiveServer,
    live_settings,
    new_openid,
    run_live_server,
)

QUESTION = "儿子不给老人赡养费怎么办"


@pytest.fixture(scope="module", params=["plain", "safe"])
def simulator(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _migrated_sqlite_file: Path,
    live_retriever: Retriever,
) -> Iterator[LiveServer]:
    """A development app with the simulator on, in plaintext mode or (with an AES key) 安全 mode."""
    data_dir = tmp_path_factory.mktemp(f"simulator-{request.param}")
    shutil.copyfile(_migrated_sqlite_file, data_dir / "pufa.db")
    settings = live_settings(
        data_dir,
        f"sqlite:///{data_dir / 'pufa.db'}",
        env="development",
        simulator=True,
        wechat_aes_key=AES_KEY if request.param == "safe" else "",
        wechat_previous_aes_key="",
    )
    with run_live_server(
        create_app(settings, retriever=live_retriever), settings, data_dir / "server.log"
    ) as live:
        yield live


def send(server: LiveServer, openid: str, kind: str, content: str = "") -> dict[str, object]:
    response = httpx.post(
        f"{server.url}/simulator/send", json={"openid": openid, "kind": kind, "content": content}, timeout=10
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def stored(server: LiveServer, openid: str) -> tuple[list[Consultation], list[Event]]:
    engine = make_engine(server.settings.sqlalchemy_url)
    user_ref = pseudonymize(openid, secret_key=TEST_SECRET_KEY)
    try:
        with make_session_factory(engine)() as session:
            rows = list(session.scalars(select(Consultation).where(Consultation.user_ref == user_ref)))
            events = list(session.scalars(select(Event).where(Event.user_ref == user_ref)))
    finally:
        engine.dispose()
    return rows, events


def test_page_looks_like_a_chat_and_is_labelled(simulator: LiveServer) -> None:
    page = httpx.get(f"{simulator.url}/simulator")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert simulator.settings.bot_name in html and "开发模式模拟器" in html
    assert all(topic.title in html for topic in replies.menu_topics().values())
    assert 'fetch("/simulator/send"' in html
    assert "bubble.textContent = text" in html and ".innerHTML =" not in html  # replies are shown as text


def test_question_takes_the_webhook_path_and_is_recorded_as_simulator(
    simulator: LiveServer, live_retriever: Retriever
) -> None:
    openid = new_openid()
    result = send(simulator, openid, "text", QUESTION)
    township = township_from_settings(simulator.settings)
    found = retrieve(live_retriever, QUESTION)
    corpus = live_retriever.corpus
    card = CardMatcher(live_retriever.embed_question, corpus=corpus).match(found.vector, found.hits)
    expected = (  # as the webhook composes: led by a situation card when one matches
        compose_card(QUESTION, card.card, found.hits, corpus=corpus, township=township).text
        if card is not None
        else compose_answer(QUESTION, found.hits, corpus=corpus, township=township, legal=found.legal).text
    )
    assert result == {"status": 200, "reply": expected}
    (row,), _ = stored(simulator, openid)
    assert (row.channel, row.question, row.reply) == ("simulator", QUESTION, expected)
    assert row.msg_id is not None
    assert "channel=simulator turn=consultation" in simulator.logs()


def test_events_and_other_kinds(simulator: LiveServer) -> None:
    township = township_from_settings(simulator.settings)
    openid = new_openid()
    assert send(simulator, openid, "subscribe")["reply"] == replies.welcome(township)
    assert send(simulator, openid, "click", "TOPIC_LAND")["reply"] == replies.menu_topic(
        "TOPIC_LAND", township
    )
    assert send(simulator, openid, "image")["reply"] == replies.non_text_guidance("image", township)
    assert send(simulator, openid, "voice", "")["reply"] == replies.voice_without_text(township)
    assert send(simulator, openid, "unsubscribe") == {"status": 200, "reply": ""}
    rows, events = stored(simulator, openid)
    assert rows == [] and sorted(e.kind for e in events) == ["click", "subscribe", "unsubscribe"]


def test_the_simulator_endpoint_checks_signatures_like_wechat(simulator: LiveServer) -> None:
    forged = FakeWeChat(simulator.url, token="not-the-token", path="/simulator/wechat").ask(
        new_openid(), QUESTION
    )
    assert forged.status == 403


@pytest.mark.parametrize(
    "payload",
    [
        {"openid": "bad id!", "kind": "text"},
        {"openid": "u", "kind": "telegram"},
        {"openid": "u", "kind": "text", "content": "字" * 2001},
    ],
)
def test_malformed_simulator_input_is_refused(simulator: LiveServer, payload: dict[str, str]) -> None:
    assert httpx.post(f"{simulator.url}/simulator/send", json=payload).status_code == 422


def test_simulator_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="only allowed with PUFA_ENV=development"):
        Settings(_env_file=None, env="production", simulator=True)  # type: ignore[call-arg]


def test_chat_in_a_browser(simulator: LiveServer, browser: Any) -> None:
    """The page's own JavaScript sends a question and shows the reply bubble (real headless Chromium)."""
    township = township_from_settings(simulator.settings)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{simulator.url}/simulator")
        page.fill("#text", "帮助")
        page.click("button[type=submit]")
        page.wait_for_selector(".row.bot .bubble", timeout=10_000)
        assert page.inner_text(".row.user .bubble") == "帮助"
        assert page.inner_text(".row.bot .bubble") == replies.help_text(township)
    finally:
        context.close()
