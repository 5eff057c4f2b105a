"""WeChat push XML: safe parsing of what WeChat posts, and building the passive text reply.

Parsing refuses DTDs and entities (CodeQL py/xml-bomb) and any root but <xml>; building escapes `]]>`
inside CDATA, which wechatpy's reply renderer does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from xml.parsers import expat

import xmltodict

from bot.errors import loggable

MAX_REPLY_BYTES = 2048  # WeChat drops longer passive text replies (UTF-8 bytes)
_ELLIPSIS = "……"
# Characters XML 1.0 cannot carry at all; they must not reach a reply (expat already refuses them inbound).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# ASCII digits only: str.isdigit() takes "²" and Arabic-Indic digits, and int() then fails or reads them.
_CREATE_TIME = re.compile("[0-9]{1,10}")  # Unix seconds: ten digits reach the year 2286
_MSG_ID = re.compile("[0-9]{1,20}")  # a 64-bit integer
_CONTROL = re.compile("[\x00-\x1f\x7f]")


class XmlRejected(ValueError):
    """The body is not a WeChat push we accept; answered with HTTP 400."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(f"bad xml: {reason}")
        self.reason = reason


def _refuse_doctype(*_args: object) -> None:
    raise ValueError("a DTD (<!DOCTYPE>) is not allowed")


def _parser_create(encoding: str | None = None, namespace_separator: str | None = None) -> Any:
    parser = expat.ParserCreate(encoding, namespace_separator)
    # xmltodict already refuses entity declarations; a bare DOCTYPE has no place in a push either.
    parser.StartDoctypeDeclHandler = _refuse_doctype
    return parser


_NO_DOCTYPE_EXPAT = SimpleNamespace(ParserCreate=_parser_create)


def parse_fields(body: bytes) -> dict[str, Any]:
    """The children of the <xml> root as a dict; XmlRejected for anything malformed or unsafe."""
    try:
        doc = xmltodict.parse(body, expat=_NO_DOCTYPE_EXPAT, disable_entities=True)
    except expat.ExpatError as exc:
        raise XmlRejected(f"malformed ({expat.errors.messages.get(exc.code, 'syntax error')})") from exc
    except LookupError as exc:  # an unknown declared encoding; its name is the sender's, not repeated
        raise XmlRejected("unknown encoding declared") from exc
    except ValueError as exc:  # entities, DOCTYPE: fixed wording, shortened and kept on one line anyway
        raise XmlRejected(_CONTROL.sub("?", str(exc)[:80])) from exc
    root = next(iter(doc))
    if root != "xml":
        raise XmlRejected("the root element is not <xml>")  # the sender's name for it is not repeated
    fields = doc[root]
    if not isinstance(fields, dict):
        raise XmlRejected("<xml> has no child elements")
    return fields


def text_field(fields: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """One child's text; nested elements, attributes or repeats where text belongs are rejected."""
    value = fields.get(name)
    if value is None:
        if required:
            raise XmlRejected(f"missing <{name}>")
        return None
    if not isinstance(value, str):
        raise XmlRejected(f"<{name}> must hold plain text")
    return value


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """The fields of a pushed message or event that pufa uses (wechatpy names in comments)."""

    to_user: str  # ToUserName: the official account
    from_user: str  # FromUserName: the sender's openid
    create_time: int
    msg_type: str  # lower case: text, voice, image, event, ...
    msg_id: str | None = None
    content: str = ""  # text messages
    recognition: str = ""  # voice messages, when 接收语音识别结果 is on
    event: str = ""  # lower case: subscribe, unsubscribe, click, view, scan, location
    event_key: str = ""

    @property
    def dedupe_key(self) -> str:
        """WeChat retries carry the same sender and MsgId (a MsgId alone could be another sender's, reused
        to obtain their reply); events have none, so sender + CreateTime identify them."""
        if self.msg_id:
            return f"{self.from_user}\x1f{self.msg_id}"
        return f"{self.from_user}:{self.create_time}"


def parse_message(body: bytes) -> InboundMessage:
    """Parse one push body into an InboundMessage; XmlRejected if it is unsafe or incomplete."""
    fields = parse_fields(body)
    create_time = (text_field(fields, "CreateTime", required=True) or "").strip()
    if not _CREATE_TIME.fullmatch(create_time):
        raise XmlRejected(f"<CreateTime> is not Unix seconds: {loggable(create_time, 20)}")
    msg_id = text_field(fields, "MsgId")
    if msg_id is not None:
        msg_id = msg_id.strip()
        if not _MSG_ID.fullmatch(msg_id):
            raise XmlRejected(f"<MsgId> is not a 64-bit number: {loggable(msg_id, 20)}")
    return InboundMessage(
        to_user=text_field(fields, "ToUserName", required=True) or "",
        from_user=text_field(fields, "FromUserName", required=True) or "",
        create_time=int(create_time),
        msg_type=(text_field(fields, "MsgType", required=True) or "").strip().lower(),
        msg_id=msg_id,
        content=text_field(fields, "Content") or "",
        recognition=text_field(fields, "Recognition") or "",
        event=(text_field(fields, "Event") or "").strip().lower(),
        event_key=text_field(fields, "EventKey") or "",
    )


def cdata(text: str) -> str:
    """A CDATA section that holds `text` exactly: `]]>` is split across two sections."""
    safe = _NOT_XML_CHAR.sub("", text)
    return "<![CDATA[" + safe.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def fit_bytes(text: str, limit: int = MAX_REPLY_BYTES) -> str:
    """`text` cut on a character boundary (ending in ……) so that it is at most `limit` UTF-8 bytes."""
    if len(text.encode("utf-8")) <= limit:
        return text
    room = limit - len(_ELLIPSIS.encode("utf-8"))
    return text.encode("utf-8")[:room].decode("utf-8", errors="ignore") + _ELLIPSIS


def render_text_reply(*, to_user: str, from_user: str, content: str, create_time: int) -> str:
    """The passive text reply (被动回复文本消息), content capped at MAX_REPLY_BYTES."""
    return (
        "<xml>\n"
        f"<ToUserName>{cdata(to_user)}</ToUserName>\n"
        f"<FromUserName>{cdata(from_user)}</FromUserName>\n"
        f"<CreateTime>{create_time}</CreateTime>\n"
        "<MsgType><![CDATA[text]]></MsgType>\n"
        f"<Content>{cdata(fit_bytes(content))}</Content>\n"
        "</xml>"
    )
