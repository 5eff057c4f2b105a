"""Development-only WeChat simulator: a chat page whose messages take the real webhook path.

`POST /simulator/send` plays WeChat's part: it builds the push XML, signs it (and encrypts it in 安全
mode when an EncodingAESKey is configured) and posts it through the app's own ASGI interface to
`/simulator/wechat`, the same handler as `/wechat`, recorded under channel "simulator".
Mounted only when PUFA_SIMULATOR=1, which Settings allows only with PUFA_ENV=development.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Literal

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from wechatpy.crypto import WeChatCrypto

from bot.answers import replies
from bot.settings import Settings
from bot.wechat.crypto import sign
from bot.wechat.messages import cdata, parse_fields
from bot.wechat.webhook import Context, handle_push

router = APIRouter(prefix="/simulator", include_in_schema=False)
_templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")

SIMULATED_ACCOUNT = "gh_pufa_simulator"
Kind = Literal["text", "voice", "image", "subscribe", "unsubscribe", "click"]


class SimulatedMessage(BaseModel):
    openid: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    kind: Kind = "text"
    content: str = Field("", max_length=2000)  # text, voice Recognition, or the menu key of a click


class SimulatedReply(BaseModel):
    status: int  # what the webhook answered
    reply: str  # the text a villager would see; "" when WeChat would show nothing


def push_xml(message: SimulatedMessage, *, to_user: str, create_time: int, msg_id: int) -> str:
    """The XML WeChat would push for this message (plaintext form)."""
    fields = [("ToUserName", to_user), ("FromUserName", message.openid), ("CreateTime", str(create_time))]
    if message.kind in ("subscribe", "unsubscribe", "click"):
        fields += [
            ("MsgType", "event"),
            ("Event", message.kind.upper() if message.kind == "click" else message.kind),
            ("EventKey", message.content),
        ]
    elif message.kind == "voice":
        fields += [
            ("MsgType", "voice"),
            ("MediaId", "simulated"),
            ("Format", "amr"),
            ("Recognition", message.content),
            ("MsgId", str(msg_id)),
        ]
    elif message.kind == "image":
        fields += [
            ("MsgType", "image"),
            ("PicUrl", "http://simulator.invalid/p.jpg"),
            ("MediaId", "simulated"),
            ("MsgId", str(msg_id)),
        ]
    else:
        fields += [("MsgType", "text"), ("Content", message.content), ("MsgId", str(msg_id))]
    return "<xml>" + "".join(f"<{name}>{cdata(value)}</{name}>" for name, value in fields) + "</xml>"


def sign_push(xml: str, settings: Settings, *, openid: str) -> tuple[dict[str, str], str]:
    """Query parameters and body as WeChat sends them: plaintext, or 安全 mode with an AES key."""
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    params = {
        "signature": sign(settings.wechat_token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": openid,
    }
    if not settings.wechat_aes_key:
        return params, xml
    crypto = WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_appid)
    encrypt = parse_fields(crypto.encrypt_message(xml, nonce, timestamp).encode())["Encrypt"]
    params.update(encrypt_type="aes", msg_signature=sign(settings.wechat_token, timestamp, nonce, encrypt))
    return (
        params,
        f"<xml><ToUserName>{cdata(SIMULATED_ACCOUNT)}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>",
    )


def reply_content(body: str, settings: Settings) -> str:
    """The Content of a reply (decrypted when sealed); "" for `success`."""
    if body == "success":
        return ""
    fields = parse_fields(body.encode())
    if "Encrypt" in fields:
        crypto = WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_appid)
        inner = crypto.decrypt_message(fields, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
        fields = parse_fields(inner.encode())
    content: str = fields.get("Content") or ""
    return content


@router.get("", response_class=HTMLResponse)
async def page(request: Request, context: Context) -> Response:
    return _templates.TemplateResponse(
        request,
        "simulator.html",
        {
            "bot_name": context.settings.bot_name,
            "township": context.settings.township,
            "menu": [(key, topic.title) for key, topic in replies.menu_topics().items()],
        },
    )


@router.post("/wechat")
async def receive(request: Request, context: Context) -> Response:
    return await handle_push(request, context, channel="simulator")


@router.post("/send")
async def send(message: SimulatedMessage, request: Request, context: Context) -> SimulatedReply:
    settings = context.settings
    xml = push_xml(
        message, to_user=SIMULATED_ACCOUNT, create_time=int(time.time()), msg_id=secrets.randbits(62)
    )
    params, body = sign_push(xml, settings, openid=message.openid)
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://simulator") as client:
        response = await client.post("/simulator/wechat", params=params, content=body.encode())
    if response.status_code != 200:
        return SimulatedReply(status=response.status_code, reply=response.text)
    return SimulatedReply(status=200, reply=reply_content(response.text, settings))
