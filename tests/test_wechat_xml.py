"""wechat_xml: safe parsing of pushes and the passive text reply, checked against wechatpy's own parser."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmltodict
from hypothesis import given
from hypothesis import strategies as st
from wechatpy.replies import deserialize_reply

from bot.wechat.messages import (
    MAX_REPLY_BYTES,
    InboundMessage,
    XmlRejected,
    cdata,
    fit_bytes,
    parse_fields,
    parse_message,
    render_text_reply,
)
from tests.fixtures.web import push_xml

GOLDEN = Path(__file__).parent / "data" / "golden"
GOLDEN_CONTENT = "【测试】回复的第一行\n第二行含有 CDATA 结束符 ]]> 和 <b>标签</b> & 符号"


def test_text_message_fields() -> None:
    xml = push_xml(
        "oUser1", "text", create_time=1767225600, msg_id=6054768590064713728, Content="邻居借钱不还"
    )
    assert parse_message(xml.encode()) == InboundMessage(
        to_user="gh_pufa_test",
        from_user="oUser1",
        create_time=1767225600,
        msg_type="text",
        msg_id="6054768590064713728",
        content="邻居借钱不还",
    )


def test_event_and_voice_fields() -> None:
    click = parse_message(
        push_xml("oU", "event", create_time=5, Event="CLICK", EventKey="TOPIC_DEBT").encode()
    )
    assert (click.event, click.event_key, click.msg_id, click.dedupe_key) == (
        "click",
        "TOPIC_DEBT",
        None,
        "oU:5",
    )
    voice = parse_message(
        push_xml("oU", "voice", msg_id=7, MediaId="m", Format="amr", Recognition="借钱").encode()
    )
    assert (voice.msg_type, voice.recognition, voice.dedupe_key) == ("voice", "借钱", "oU\x1f7")
    other = parse_message(push_xml("oOther", "voice", msg_id=7, Recognition="借钱").encode())
    assert other.dedupe_key != voice.dedupe_key  # a MsgId is a retry only from the same sender


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<xml><ToUserName>a</ToUserName>", "malformed"),
        ("", "malformed"),
        ('<!DOCTYPE xml [<!ENTITY x "boom">]><xml><Content>&x;</Content></xml>', "DTD"),
        ('<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>', "DTD"),
        ("<!DOCTYPE xml><xml><Content>a</Content></xml>", "DTD"),
        ("<message><Content>a</Content></message>", "the root element is not <xml>"),
        ("<xml/>", "no child elements"),
        ("<xml><Content>\x01</Content></xml>", "malformed"),
        ('<?xml version="1.0" encoding="x-unknown"?><xml><a>1</a></xml>', "encoding"),
    ],
    ids=[
        "unclosed",
        "empty",
        "entity",
        "external-entity",
        "bare-doctype",
        "root",
        "no-children",
        "control-char",
        "unknown-encoding",
    ],
)
def test_unsafe_or_malformed_xml_is_rejected(body: str, reason: str) -> None:
    with pytest.raises(XmlRejected, match=reason) as caught:
        parse_fields(body.encode())
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            "<FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>",
            "missing <ToUserName>",
        ),
        (
            "<ToUserName>a</ToUserName><FromUserName>u</FromUserName><CreateTime>soon</CreateTime>"
            "<MsgType>text</MsgType>",
            "CreateTime",
        ),
        (
            "<ToUserName>a</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>"
            "<MsgType>text</MsgType><Content><b>x</b></Content>",
            "<Content> must hold plain text",
        ),
        (
            "<ToUserName>a</ToUserName><FromUserName>u</FromUserName><FromUserName>v</FromUserName>"
            "<CreateTime>1</CreateTime><MsgType>text</MsgType>",
            "<FromUserName> must hold plain text",
        ),
    ],
    ids=["missing-field", "bad-create-time", "nested-content", "repeated-field"],
)
def test_incomplete_messages_are_rejected(fields: str, reason: str) -> None:
    with pytest.raises(XmlRejected, match=reason):
        parse_message(f"<xml>{fields}</xml>".encode())


HEAD = "<ToUserName>a</ToUserName><FromUserName>u</FromUserName><MsgType>event</MsgType><Event>subscribe</Event>"


@pytest.mark.parametrize(
    "create_time",
    ["²", "¹²³", "١٧٦٧٢٢٥٦٠٠", "1" * 30, "9" * 4000, "-5", "1e9", ""],
    ids=["superscript", "superscripts", "arabic-indic", "30-digits", "4000-digits", "negative", "float", "empty"],
)
def test_create_time_is_one_to_ten_ascii_digits(create_time: str) -> None:
    # Before: "²" raised ValueError (HTTP 500), Arabic-Indic digits were read as a time, and 30 digits
    # reached the database, whose OverflowError lost the subscribe event's record.
    with pytest.raises(XmlRejected, match="CreateTime") as caught:
        parse_message(f"<xml>{HEAD}<CreateTime>{create_time}</CreateTime></xml>".encode())
    assert len(str(caught.value)) < 100  # a 4000-digit value is not repeated at length


@pytest.mark.parametrize("msg_id", ["1\nINFO bot.server: forged line", "abc", "1" * 21, "١٢"])
def test_a_msg_id_is_a_64_bit_number(msg_id: str) -> None:
    body = push_xml("oU", "text", Content="你好").replace("</xml>", f"<MsgId>{msg_id}</MsgId></xml>")
    with pytest.raises(XmlRejected, match="MsgId") as caught:
        parse_message(body.encode())
    assert "\n" not in str(caught.value)  # repr(): the refusal (logged) stays on one line


def test_a_huge_root_element_name_is_not_repeated() -> None:
    name = "r" * 30_000
    with pytest.raises(XmlRejected) as caught:
        parse_fields(f"<{name}><a>1</a></{name}>".encode())
    assert str(caught.value) == "bad xml: the root element is not <xml>"


def test_golden_text_reply() -> None:
    xml = render_text_reply(
        to_user="oUserOpenId123", from_user="gh_pufa_test", content=GOLDEN_CONTENT, create_time=1767225600
    )
    assert xml == (GOLDEN / "text_reply.xml").read_text(encoding="utf-8")


def test_cdata_end_marker_cannot_inject_elements() -> None:
    hostile = "前]]></Content><MsgType><![CDATA[news]]></MsgType><Content><![CDATA[后"
    reply = deserialize_reply(render_text_reply(to_user="o", from_user="gh", content=hostile, create_time=1))
    assert reply.content == hostile
    assert reply.type == "text"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_any_text_survives_a_round_trip(text: str) -> None:
    parsed = (
        xmltodict.parse(f"<xml><Content>{cdata(text)}</Content></xml>", strip_whitespace=False)["xml"][
            "Content"
        ]
        or ""
    )
    expected = "".join(
        ch
        for ch in text
        if ch in "\t\n\r" or " " <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd" or ch >= "\U00010000"
    )
    # expat normalises line ends inside CDATA, as any XML parser must
    assert parsed == expected.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize("text", ["法" * 1000, "a" * 3000, "法" * 682 + "abc", "😀" * 600])
def test_reply_content_is_capped_at_2048_bytes(text: str) -> None:
    fitted = fit_bytes(text)
    assert len(fitted.encode("utf-8")) <= MAX_REPLY_BYTES
    assert fitted.endswith("……") and text.startswith(fitted.removesuffix("……"))
    content = deserialize_reply(
        render_text_reply(to_user="o", from_user="g", content=text, create_time=1)
    ).content
    assert content == fitted


def test_short_reply_is_untouched() -> None:
    text = "法" * 682  # 2046 bytes
    assert fit_bytes(text) == text
