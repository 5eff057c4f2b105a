"""The WeChat webhook over real HTTP: uvicorn on loopback, pushes signed and encrypted with wechatpy.

The app runs the real retriever on the mini index; slowness and failure are injected by wrapping that
retriever (tests.fixtures.web.ProbedRetriever), never by patching the webhook.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import xmltodict
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from bot.answers import replies
from bot.answers.township import Township
from bot.app import create_app, township_from_settings
from bot.records.privacy import pseudonymize
from indexing.retrieval import Retriever
from tests.fixtures.web import (
    ACCOUNT,
    AES_KEY,
    APP_ID,
    BROKEN_TRIGGER,
    LIVE_REPLY_BUDGET_S,
    PREVIOUS_AES_KEY,
    SLOW_TRIGGER,
    TEST_SECRET_KEY,
    TOKEN,
    FakeWeChat,
    LiveServer,
    WeChatReply,
    consultations,
    events,
    expected_answer,
    live_settings,
    new_msg_id,
    new_openid,
    push_xml,
    run_live_server,
    write_lock,
)

QUESTION = "邻居借了我五千块钱一直不还怎么办"
GOLDEN = Path(__file__).parent / "data" / "golden"


# --- URL verification ---------------------------------------------------------------------------------


def test_url_verification_echoes_echostr_verbatim(wechat: FakeWeChat) -> None:
    echostr = "7325460192834717621"
    response = wechat.client.get(wechat.url, params={**wechat.signed_query(), "echostr": echostr})
    assert (response.status_code, response.text) == (200, echostr)


@pytest.mark.parametrize("tamper", ["signature", "timestamp"])
def test_url_verification_refuses_forged_or_stale_requests(wechat: FakeWeChat, tamper: str) -> None:
    query = wechat.signed_query(timestamp=int(time.time()) - 3600 if tamper == "timestamp" else None)
    if tamper == "signature":
        query["signature"] = "0" * 40
    response = wechat.client.get(wechat.url, params={**query, "echostr": "42"})
    assert response.status_code == 403
    assert "42" not in response.text


# --- Every failure class: status, body and the records written ----------------------------------------


@dataclass(frozen=True)
class Case:
    """One way a push can go wrong, what the webhook must answer, and what it must store."""

    send: Callable[[FakeWeChat, str, int], list[WeChatReply]]  # (wechat, openid, msg_id) → replies
    status: int
    body: str | Callable[[Township], str]  # exact error body, or the reply text a villager must see
    recorded: int  # consultations stored for the sender
    fallback: bool = False


def _text(openid: str, msg_id: int, content: str = QUESTION, **fields: str) -> str:
    return push_xml(openid, "text", Content=content, msg_id=msg_id, **fields)


def _with_query(**query: str) -> Callable[[FakeWeChat, str, int], list[WeChatReply]]:
    return lambda w, o, m: [w.post(_text(o, m), query=query, openid=o)]


def _without_signature(w: FakeWeChat, openid: str, msg_id: int) -> list[WeChatReply]:
    params = {k: v for k, v in w.signed_query().items() if k != "signature"}
    response = w.client.post(w.url, params=params, content=_text(openid, msg_id).encode())
    return [w.open(response, None)]


def _stale(w: FakeWeChat, openid: str, msg_id: int) -> list[WeChatReply]:
    query = w.signed_query(timestamp=int(time.time()) - 301)  # just beyond the 5-minute window
    return [w.post(_text(openid, msg_id), query=query, openid=openid)]


def _raw(body: str) -> Callable[[FakeWeChat, str, int], list[WeChatReply]]:
    return lambda w, o, m: [w.post(body.replace("OPENID", o).replace("MSGID", str(m)), openid=o)]


def _chunked_oversize(w: FakeWeChat, openid: str, msg_id: int) -> list[WeChatReply]:
    """No Content-Length: the server must stop reading at the cap on its own."""
    body = _text(openid, msg_id, "法" * 8000).encode()
    chunks = (body[i : i + 1024] for i in range(0, len(body), 1024))
    response = w.client.post(w.url, params={**w.signed_query(), "openid": openid}, content=chunks)
    return [w.open(response, None)]


def _retry(w: FakeWeChat, openid: str, msg_id: int) -> list[WeChatReply]:
    xml = _text(openid, msg_id)
    return [w.post(xml, openid=openid) for _ in range(3)]  # WeChat's three tries when a reply is lost


def _message(msg_type: str, **fields: str) -> Callable[[FakeWeChat, str, int], list[WeChatReply]]:
    return lambda w, o, m: [w.post(push_xml(o, msg_type, msg_id=m, **fields), openid=o)]


FIELDS = "<ToUserName>gh</ToUserName><FromUserName>OPENID</FromUserName><CreateTime>1</CreateTime>"
CASES = {
    "forged-signature": Case(
        _with_query(signature="da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        403,
        "forbidden: signature does not match",
        0,
    ),
    "missing-signature": Case(
        _without_signature, 403, "forbidden: signature, timestamp and nonce are required", 0
    ),
    "stale-timestamp": Case(
        _stale, 403, "forbidden: timestamp is more than 300 s away from the server clock", 0
    ),
    "malformed-xml": Case(
        _raw(f"<xml>{FIELDS}<MsgType>text</xml>"), 400, "bad xml: malformed (mismatched tag)", 0
    ),
    "entity-declaration": Case(
        _raw(
            f'<!DOCTYPE xml [<!ENTITY q "{QUESTION}">]><xml>{FIELDS}<MsgType>text</MsgType>'
            "<Content>&q;</Content><MsgId>MSGID</MsgId></xml>"
        ),
        400,
        "bad xml: a DTD (<!DOCTYPE>) is not allowed",
        0,
    ),
    "billion-laughs": Case(
        _raw(
            '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            f"<xml>{FIELDS}<MsgType>text</MsgType><Content>&b;</Content></xml>"
        ),
        400,
        "bad xml: a DTD (<!DOCTYPE>) is not allowed",
        0,
    ),
    "non-xml-root": Case(
        _raw(f"<message>{FIELDS}<MsgType>text</MsgType><Content>{QUESTION}</Content></message>"),
        400,
        "bad xml: the root element is not <xml>",
        0,
    ),
    "missing-msg-type": Case(
        _raw(f"<xml>{FIELDS}<Content>{QUESTION}</Content></xml>"), 400, "bad xml: missing <MsgType>", 0
    ),
    "oversize-body": Case(
        lambda w, o, m: [w.post(_text(o, m, "法" * 8000), openid=o)],
        413,
        "body too large: more than 16384 bytes",
        0,
    ),
    "oversize-chunked-body": Case(_chunked_oversize, 413, "body too large: more than 16384 bytes", 0),
    "unknown-message-type": Case(
        _message("hologram", MediaId="m"), 200, lambda t: replies.non_text_guidance("hologram", t), 0
    ),
    "image": Case(
        _message("image", PicUrl="http://example.invalid/a.jpg", MediaId="m"),
        200,
        lambda t: replies.non_text_guidance("image", t),
        0,
    ),
    "empty-text": Case(_message("text", Content=""), 200, replies.empty_question, 0),
    "blank-text": Case(_message("text", Content=" \u3000\n\t "), 200, replies.empty_question, 0),
    "zero-width-only": Case(
        _message("text", Content="\u200b\u200d\ufeff\u2060"), 200, replies.empty_question, 0
    ),
    "emoji-only": Case(_message("text", Content="😀🙏👍🏽"), 200, replies.empty_question, 0),
    "control-char": Case(
        _raw(f"<xml>{FIELDS}<MsgType>text</MsgType><Content>a&#1;b</Content></xml>"),
        400,
        "bad xml: malformed (reference to invalid character number)",
        0,
    ),
    "retry-same-msgid": Case(_retry, 200, "ANSWER", 1),
    "slow-retrieval": Case(
        _message("text", Content=f"{SLOW_TRIGGER} {QUESTION}"), 200, replies.fallback, 1, fallback=True
    ),
    "retrieval-error": Case(
        _message("text", Content=f"{BROKEN_TRIGGER} {QUESTION}"), 200, replies.fallback, 1, fallback=True
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_failure_class(
    name: str,
    wechat: FakeWeChat,
    live_sessions: sessionmaker[Session],
    live_township: Township,
    live_retriever: Retriever,
) -> None:
    case, openid, msg_id = CASES[name], new_openid(), new_msg_id()
    started = time.monotonic()
    answers = case.send(wechat, openid, msg_id)
    elapsed = time.monotonic() - started
    assert {a.status for a in answers} == {case.status}, [a.body[:200] for a in answers]
    if case.status != 200:
        assert answers[-1].body == case.body
    else:
        expected = (
            expected_answer(live_retriever, QUESTION, live_township)
            if case.body == "ANSWER"
            else case.body(live_township)
            if callable(case.body)
            else case.body
        )
        assert [a.content for a in answers] == [expected] * len(answers)
        assert all(a.reply is not None and a.reply.target == openid for a in answers)
    assert elapsed < LIVE_REPLY_BUDGET_S * len(answers) + 1.0
    stored = consultations(live_sessions, openid=openid)
    assert len(stored) == case.recorded
    for row in stored:
        assert (row.msg_id, row.fallback, row.channel) == (str(msg_id), case.fallback, "wechat")
        assert row.reply == answers[0].content
    assert events(live_sessions, openid=openid) == []


def test_slow_retrieval_is_answered_within_the_budget(
    wechat: FakeWeChat, live_sessions: sessionmaker[Session]
) -> None:
    openid = new_openid()
    started = time.monotonic()
    answer = wechat.ask(openid, f"{SLOW_TRIGGER} 儿子不给赡养费怎么办")
    elapsed = time.monotonic() - started
    assert LIVE_REPLY_BUDGET_S - 0.5 < elapsed < LIVE_REPLY_BUDGET_S + 0.5
    (row,) = consultations(live_sessions, openid=openid)
    assert row.fallback and row.reply == answer.content and row.latency_ms < LIVE_REPLY_BUDGET_S * 1000


def test_stalled_database_still_answers_within_the_budget(
    wechat: FakeWeChat, live_township: Township, live_db_url: str, live_sessions: sessionmaker[Session]
) -> None:
    """A writer holding the lock stalls the record; the villager still gets a reply in time."""
    with write_lock(live_db_url):
        openid = new_openid()
        started = time.monotonic()
        answer = wechat.ask(openid, QUESTION)
        elapsed = time.monotonic() - started
    assert answer.content == replies.fallback(live_township)
    assert elapsed < LIVE_REPLY_BUDGET_S + 0.3
    deadline = time.monotonic() + 5  # the abandoned worker thread stores the record once the lock is gone
    while not consultations(live_sessions, openid=openid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(consultations(live_sessions, openid=openid)) == 1


# --- Encryption modes and key rotation ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_all_three_modes_answer_alike(
    mode: str,
    wechat: FakeWeChat,
    live_township: Township,
    live_retriever: Retriever,
    live_sessions: sessionmaker[Session],
) -> None:
    openid = new_openid()
    answer = wechat.ask(openid, QUESTION, mode=mode)
    assert answer.content == expected_answer(live_retriever, QUESTION, live_township)
    if mode == "plain":
        assert answer.envelope is None and "<Encrypt>" not in answer.body
    else:  # "encrypt_type=aes … 回复密文": the reply must not leak the plaintext
        assert answer.envelope is not None and answer.content[:20] not in answer.body
    assert len(consultations(live_sessions, openid=openid)) == 1


def test_previous_key_is_tried_and_used_for_the_reply(wechat: FakeWeChat) -> None:
    openid = new_openid()
    answer = wechat.post(
        push_xml(openid, "text", Content="帮助", msg_id=new_msg_id()),
        mode="safe",
        key=PREVIOUS_AES_KEY,
        openid=openid,
    )
    assert answer.status == 200 and "使用方法" in answer.content  # opened with the previous key
    envelope = answer.envelope
    assert envelope is not None
    current = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    with pytest.raises(Exception):  # noqa: B017 - a wrong key fails as padding, unicode or AppId errors
        current.decrypt_message(
            answer.body, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
        )


def test_message_under_an_unknown_key_is_refused(
    wechat: FakeWeChat, live_sessions: sessionmaker[Session]
) -> None:
    openid = new_openid()
    answer = wechat.post(
        push_xml(openid, "text", Content=QUESTION, msg_id=new_msg_id()),
        mode="safe",
        key="0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
        openid=openid,
    )
    assert (answer.status, answer.body) == (
        400,
        "cannot decrypt: neither the current nor the previous EncodingAESKey opens the message",
    )
    assert consultations(live_sessions, openid=openid) == []


@pytest.mark.parametrize("msg_signature", ["", "0" * 40])
def test_safe_mode_checks_msg_signature(wechat: FakeWeChat, msg_signature: str) -> None:
    """`signature` alone must not open an encrypted push: msg_signature is what signs the ciphertext."""
    openid = new_openid()
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    query = {**wechat.signed_query(), "encrypt_type": "aes", "msg_signature": msg_signature}
    xml = push_xml(openid, "text", Content="帮助", msg_id=1)
    sealed = xmltodict.parse(crypto.encrypt_message(xml, query["nonce"], query["timestamp"]))["xml"]
    body = f"<xml><ToUserName>{ACCOUNT}</ToUserName><Encrypt>{sealed['Encrypt']}</Encrypt></xml>"
    response = wechat.client.post(wechat.url, params=query, content=body.encode())
    assert (response.status_code, response.text) == (
        403,
        "forbidden: msg_signature is missing or does not match",
    )


def test_encrypted_reply_carries_the_request_timestamp_and_nonce(wechat: FakeWeChat) -> None:
    openid = new_openid()
    query = wechat.signed_query(nonce="1320562132")
    answer = wechat.post(
        push_xml(openid, "text", Content="帮助", msg_id=new_msg_id()), mode="safe", query=query, openid=openid
    )
    envelope = answer.envelope
    assert envelope is not None
    assert (envelope["TimeStamp"], envelope["Nonce"]) == (query["timestamp"], "1320562132")
    signer = WeChatSigner()
    signer.add_data(TOKEN, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
    assert envelope["MsgSignature"] == signer.signature


def test_golden_plain_reply(wechat: FakeWeChat, live_township: Township) -> None:
    """Byte-for-byte layout of a plain reply; only CreateTime (the server's clock) is read back."""
    openid = new_openid()
    before = int(time.time())
    answer = wechat.post(push_xml(openid, "text", Content="帮助", msg_id=new_msg_id()), openid=openid)
    reply = answer.reply
    assert reply is not None and before <= int(reply.time) <= time.time() + 1
    golden = (GOLDEN / "text_reply.xml").read_text(encoding="utf-8")
    expected = (
        golden.replace("oUserOpenId123", openid)
        .replace("1767225600", str(int(reply.time)))
        .split("<Content>")[0]
        + f"<Content><![CDATA[{replies.help_text(live_township)}]]></Content>\n</xml>"
    )
    assert answer.body == expected


def test_logs_hold_neither_openid_nor_question(wechat: FakeWeChat, live_server: LiveServer) -> None:
    openid, question = new_openid(), "我家的宅基地被邻居占了一米多宽怎么办"
    msg_id = new_msg_id()
    wechat.ask(openid, question, msg_id=msg_id)
    wechat.post("<xml>broken", openid=openid)
    logs = live_server.logs()
    assert f"msg={msg_id}" in logs and '"POST /wechat HTTP/1.1" 400' in logs  # the log is being written
    assert '"POST /wechat HTTP/1.1" 200' not in logs  # an answered push has its turn line only
    assert openid not in logs and question not in logs and "宅基地" not in logs
    assert pseudonymize(openid, secret_key=TEST_SECRET_KEY)[:16] in logs


def test_a_bug_after_the_dialogue_is_a_500_logged_by_type_only(
    wechat: FakeWeChat, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pushes skip FastAPI's middleware (bot.app.PufaApp), so the webhook answers an unexpected failure
    itself: WeChat then retries, and the retry gets the stored reply."""
    question = "宅基地被占了怎么办"

    def broken(**_: object) -> str:
        raise RuntimeError(f"rendering {question}")

    monkeypatch.setattr("bot.wechat.webhook.render_text_reply", broken)
    answer = wechat.ask(new_openid(), question)
    assert (answer.status, answer.body) == (500, "Internal Server Error")
    logs = live_server.logs()
    assert "push failed: RuntimeError at" in logs and question not in logs


# --- Servers with other settings --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def odd_server(tmp_path_factory: pytest.TempPathFactory, live_retriever: Retriever) -> Iterator[LiveServer]:
    """Township contacts holding a CDATA end marker, and a database that was never migrated."""
    data_dir = tmp_path_factory.mktemp("odd-server")
    settings = live_settings(
        data_dir,
        f"sqlite:///{data_dir / 'unmigrated.db'}",
        mediation_contact="调解室]]></Content><MsgType>news</MsgType><Content><![CDATA[x",
    )
    with run_live_server(
        create_app(settings, retriever=live_retriever), settings, data_dir / "server.log"
    ) as live:
        yield live


def test_cdata_end_marker_in_a_reply_is_escaped(odd_server: LiveServer) -> None:
    fake = FakeWeChat(odd_server.url)
    answer = fake.ask(new_openid(), "调解")
    assert answer.reply is not None and answer.reply.type == "text"
    assert odd_server.settings.mediation_contact in answer.content
    fields = xmltodict.parse(answer.body)["xml"]  # the marker did not open new elements
    assert (sorted(fields), fields["MsgType"]) == (
        ["Content", "CreateTime", "FromUserName", "MsgType", "ToUserName"],
        "text",
    )


def test_database_failure_still_answers(odd_server: LiveServer, live_retriever: Retriever) -> None:
    fake = FakeWeChat(odd_server.url)
    answer = fake.ask(new_openid(), QUESTION)
    assert answer.content == expected_answer(
        live_retriever, QUESTION, township_from_settings(odd_server.settings)
    )
    assert "database step failed (reply still sent)" in odd_server.logs()


def test_post_without_body_is_refused(wechat: FakeWeChat) -> None:
    response = wechat.client.post(wechat.url, params=wechat.signed_query())
    assert (response.status_code, response.text) == (400, "bad xml: malformed (no element found)")


def test_production_app_has_no_docs_or_simulator(wechat: FakeWeChat) -> None:
    for path in ("/docs", "/openapi.json", "/simulator"):
        assert wechat.client.get(wechat.url.replace("/wechat", path)).status_code == 404


@pytest.fixture(scope="module")
def second_worker(
    tmp_path_factory: pytest.TempPathFactory, live_server: LiveServer, live_retriever: Retriever
) -> Iterator[LiveServer]:
    """A second worker's app on the same database: its memory holds none of the first one's replies."""
    data_dir = tmp_path_factory.mktemp("second-worker")
    settings = live_server.settings.model_copy(update={"data_dir": data_dir})
    with run_live_server(
        create_app(settings, retriever=live_retriever), settings, data_dir / "server.log"
    ) as live:
        yield live


def test_retry_on_another_worker_gets_the_stored_reply(
    wechat: FakeWeChat, second_worker: LiveServer, live_sessions: sessionmaker[Session]
) -> None:
    openid, msg_id = new_openid(), new_msg_id()
    first = wechat.ask(openid, QUESTION, msg_id=msg_id)
    retry = FakeWeChat(second_worker.url).ask(openid, QUESTION, msg_id=msg_id)
    assert retry.content == first.content
    assert len(consultations(live_sessions, openid=openid)) == 1
    # Only the second worker can log this turn as a retry: the first one answered it.
    assert re.search(rf"msg={msg_id} user=\w+ channel=wechat turn=retry", second_worker.logs())
