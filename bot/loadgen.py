"""Load generator for `pufa bench webhook`: concurrent signed text messages against a running server.

Plays WeChat on loopback: every message has its own MsgId and sender, questions cycle through a list,
and a message whose connection fails is sent again with the same MsgId (as WeChat retries), up to
`retries` times. The run is bounded by time; only the given URL is ever contacted.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select

from bot.db import make_engine
from bot.models import Consultation

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
ACCOUNT = "gh_pufa_bench"


class NotLoopback(ValueError):
    """The load generator only drives servers on this machine."""


@dataclass
class LoadReport:
    """What a run did: per-request latencies, failures, and the MsgIds that got a reply."""

    started: float
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)  # e.g. "ReadTimeout", "HTTP 500"
    answered: list[str] = field(default_factory=list)

    def fail(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] += 1

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "requests": self.requests,
            "rps": round(self.requests / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "p50_ms": round(_percentile(ordered, 0.50), 1),
            "p99_ms": round(_percentile(ordered, 0.99), 1),
            "errors": self.errors,
            # Only when something failed, so that a clean run prints the figures the issue asks for.
            **({"error_kinds": dict(self.error_kinds)} if self.errors else {}),
        }


def _percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def signed_query(token: str) -> dict[str, str]:
    """WeChat's request signature: SHA1 of the sorted token, timestamp and nonce."""
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    signature = hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def text_push(openid: str, msg_id: str, question: str) -> bytes:
    content = question.replace("]]>", "]]]]><![CDATA[>")
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK_HOSTS and not host.startswith("127."):
        raise NotLoopback(
            f"{url!r} is not on this machine; give a loopback URL such as http://127.0.0.1:8000/wechat"
        )


class _Messages:
    """Unique (openid, MsgId, question) triples, shared by all clients of a run."""

    def __init__(self, questions: Sequence[str]) -> None:
        self._questions = itertools.cycle(questions)
        self._run = secrets.token_hex(4)
        self._ids = itertools.count(secrets.randbits(40) << 20)

    def __iter__(self) -> Iterator[tuple[str, str, str]]:
        return self

    def __next__(self) -> tuple[str, str, str]:
        n = next(self._ids)
        return f"oBench{self._run}{n:x}", str(n), next(self._questions)


async def _send(client: httpx.AsyncClient, url: str, token: str, body: bytes) -> httpx.Response:
    return await client.post(url, params=signed_query(token), content=body)


async def _client(client: httpx.AsyncClient, url: str, token: str, messages: _Messages, deadline: float,
                  retries: int, report: LoadReport) -> None:  # fmt: skip
    while time.monotonic() < deadline:
        openid, msg_id, question = next(messages)
        body = text_push(openid, msg_id, question)
        for _attempt in range(retries + 1):
            started = time.monotonic()
            try:
                response = await _send(client, url, token, body)
            except httpx.HTTPError as exc:
                report.fail(type(exc).__name__)
                continue  # WeChat sends the same message again
            if response.status_code == 200 and response.text.startswith("<xml>"):
                report.latencies_ms.append((time.monotonic() - started) * 1000)
                report.answered.append(msg_id)
            else:
                report.fail(f"HTTP {response.status_code}" if response.status_code != 200 else "not a reply")
            break


async def run_load(url: str, token: str, questions: Sequence[str], *, duration_s: float, concurrency: int,
                   retries: int = 0, timeout_s: float = 10.0) -> LoadReport:  # fmt: skip
    """`concurrency` clients sending messages back to back for `duration_s` seconds."""
    check_loopback(url)
    if not questions:
        raise ValueError("no questions to send: give a non-empty question list")
    report = LoadReport(started=time.time())
    messages = _Messages(questions)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    began = time.monotonic()
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        deadline = began + duration_s
        await asyncio.gather(
            *(_client(client, url, token, messages, deadline, retries, report) for _ in range(concurrency))
        )
    report.elapsed_s = time.monotonic() - began
    return report


def drive(url: str, token: str, questions: Sequence[str], **options: Any) -> LoadReport:
    """`run_load` from synchronous code, on an event loop of its own in a helper thread (the calling
    thread may be running a loop already, as under a test's browser driver)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pufa-loadgen") as pool:
        return pool.submit(asyncio.run, run_load(url, token, questions, **options)).result()


def count_records(database_url: str, msg_ids: Sequence[str]) -> int:
    """How many consultations the server stored for these MsgIds."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            total = 0
            for start in range(0, len(msg_ids), 1000):
                batch = list(msg_ids[start : start + 1000])
                stmt = select(func.count()).select_from(Consultation).where(Consultation.msg_id.in_(batch))
                total += int(connection.execute(stmt).scalar_one())
            return total
    finally:
        engine.dispose()
