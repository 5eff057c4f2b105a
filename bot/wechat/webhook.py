"""The WeChat endpoint, transport only: verify → read (capped) → open → parse → Dialogue → seal → answer.

GET /wechat echoes `echostr` for URL verification; POST /wechat takes pushes in plaintext, 兼容 and
安全 mode. Every refusal is a short text/plain body with its HTTP status: 403 signature (forged, stale,
replayed with another body, or plaintext where encryption is required), 413 size, 400 XML or decryption.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from wechatpy.crypto import WeChatCrypto

from bot.answers import replies
from bot.conversation.dialogue import Dialogue
from bot.errors import describe_error, loggable
from bot.settings import Settings
from bot.wechat.crypto import DecryptionFailed, Envelope, SignatureRejected, SignedQuery, verify_query
from bot.wechat.messages import (
    InboundMessage,
    XmlRejected,
    parse_fields,
    parse_message,
    render_text_reply,
    text_field,
)

log = logging.getLogger(__name__)
router = APIRouter()
PATH = "/wechat"
TURN_THREADS = 40  # turns in progress at once per process (each waits on retrieval and the database)
MAX_REASON_CHARS = 200
SIGNATURE_WAIT_S = 1.0  # of the 4.5 s reply budget, at most, for the used-signature check


class BodyTooLarge(ValueError):
    """The body exceeds PUFA_MAX_BODY_BYTES; answered with HTTP 413 before anything is parsed."""

    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"body too large: more than {limit} bytes")


Rejected = (SignatureRejected, BodyTooLarge, XmlRejected, DecryptionFailed)


@dataclass(frozen=True, slots=True)
class WebhookContext:
    """What the endpoint needs, built once per process by the app's lifespan."""

    settings: Settings
    envelope: Envelope
    dialogue: Dialogue
    # The dialogue's own threads, not anyio's: to_thread with its limiter and cancel scope cost three times
    # the CPU of run_in_executor (60 µs a push), on the busiest thread, the event loop.
    turns: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(TURN_THREADS, thread_name_prefix="pufa-turn")
    )


def get_context(request: Request) -> WebhookContext:
    context: WebhookContext = request.app.state.webhook
    return context


Context = Annotated[WebhookContext, Depends(get_context)]


def _refuse(exc: Exception, status: int) -> PlainTextResponse:
    # Reasons quote user content only through `loggable` (repr, cut short); the cap is a second fence.
    reason = str(exc)[:MAX_REASON_CHARS]
    log.warning("refused a push with %d: %s", status, reason)
    return PlainTextResponse(reason, status_code=status)


def _verify(request: Request, settings: Settings) -> SignedQuery:
    return verify_query(
        request.query_params,
        token=settings.wechat_token,
        now=time.time(),
        max_skew_s=settings.max_clock_skew_s,
    )


@router.get(PATH)
async def verify_url(request: Request, context: Context) -> Response:
    """URL verification (接入指南): echo `echostr` verbatim when the signature matches."""
    try:
        _verify(request, context.settings)
    except SignatureRejected as exc:
        return _refuse(exc, exc.status)
    return PlainTextResponse(request.query_params.get("echostr", ""))


@router.post(PATH)
async def receive(request: Request) -> Response:
    """A message or event pushed by WeChat."""
    # The context is read directly, not through Depends: FastAPI's dependency solving cost ~0.2 ms of
    # CPU per push on this hot path, as much as parsing the push.
    return await handle_push(request, get_context(request), channel="wechat")


async def serve_push(scope: Scope, receive: Receive, send: Send) -> None:
    """`receive` as a bare ASGI app, for `bot.app.PufaApp`'s way around FastAPI's middleware and routing.
    What FastAPI's outermost middleware would do is done here: a failure is logged (by type only) and
    answered with a 500."""
    request = Request(scope, receive)
    try:
        response = await handle_push(request, get_context(request), channel="wechat")
    except Exception as exc:  # noqa: BLE001 - a bug: WeChat retries, the villager gets the retry's reply
        log.error("push failed: %s", describe_error(exc))
        response = PlainTextResponse("Internal Server Error", status_code=500)
    await response(scope, receive, send)


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, read chunk by chunk and abandoned as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)


async def _first_use(context: WebhookContext, query: SignedQuery, body: bytes) -> None:
    """Refuse a signature that came before with another body: the signature does not cover a plaintext
    body, so a captured query string would otherwise carry any body within the clock window. The same
    body again is WeChat resending a push, answered from the turn's claim."""
    digest = hashlib.sha256(body).hexdigest()[:32]
    use = partial(context.dialogue.state.use_signature, query.signature, digest, until=query.replayable_until)
    try:
        # The shared state may be the database: off the event loop, on the turns' threads. A stalled
        # database (a writer holding SQLite's lock) must not cost the reply: past the wait, the push is
        # taken, as during an outage (the thread still records the signature once it can).
        async with asyncio.timeout(SIGNATURE_WAIT_S):
            first = await asyncio.get_running_loop().run_in_executor(context.turns, use)
    except TimeoutError:
        log.warning("used signatures not checked within %.1f s (shared state stalled): push taken",
                    SIGNATURE_WAIT_S)
        return
    if not first:
        raise SignatureRejected("signature already used with another body (a replay)")


def open_message(
    body: bytes, query: SignedQuery, envelope: Envelope
) -> tuple[InboundMessage, WeChatCrypto | None]:
    """The pushed message, and the key that opened it when the push was encrypted."""
    if not query.encrypted:
        return parse_message(body), None
    encrypt = text_field(parse_fields(body), "Encrypt", required=True) or ""
    plain, crypto = envelope.open(encrypt, query)
    return parse_message(plain.encode("utf-8")), crypto


async def handle_push(request: Request, context: Context, *, channel: str) -> Response:
    """The whole POST path; the simulator calls it too, under its own channel."""
    started = time.monotonic()
    try:
        query = _verify(request, context.settings)
        if context.settings.refuses_plaintext and not query.encrypted:
            raise SignatureRejected("plaintext push refused: this account expects encrypt_type=aes")
        body = await read_capped(request, context.settings.max_body_bytes)
        await _first_use(context, query, body)
        msg, crypto = open_message(body, query, context.envelope)
    except Rejected as exc:
        return _refuse(exc, exc.status)
    deadline = started + context.settings.reply_budget_s
    reply = await _reply_text(context, msg, channel=channel, started=started, deadline=deadline)
    if not reply:
        return PlainTextResponse("success")  # 被动回复: WeChat shows nothing and does not retry
    xml = render_text_reply(
        to_user=msg.from_user, from_user=msg.to_user, content=reply, create_time=int(time.time())
    )
    if crypto is not None:
        xml = Envelope.seal(xml, crypto, query)
    return Response(xml, media_type="application/xml")


async def _reply_text(
    context: WebhookContext, msg: InboundMessage, *, channel: str, started: float, deadline: float
) -> str:
    """The dialogue's reply, or the fallback if it fails or is not ready by `deadline` (monotonic)."""
    dialogue = context.dialogue
    respond = partial(dialogue.respond, msg, channel=channel, started=started)
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            # On timeout the thread is abandoned, not awaited: it still stores its record once it can.
            return await asyncio.get_running_loop().run_in_executor(context.turns, respond)
    except TimeoutError:
        log.error("no reply within the budget for msg=%s (database stalled?): fallback sent",
                  loggable(msg.msg_id))
    except Exception as exc:  # noqa: BLE001 - a bug must cost a fallback, not "暂时无法提供服务"
        log.error("dialogue failed for msg=%s: %s", loggable(msg.msg_id), describe_error(exc))
    try:
        return replies.fallback(dialogue.township)
    except Exception as exc:  # noqa: BLE001
        log.error("fallback reply failed: %s", describe_error(exc))
        return ""
