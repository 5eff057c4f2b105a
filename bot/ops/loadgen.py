"""Load generator for `pufa bench webhook`: concurrent signed text messages against a running server.

Plays WeChat on loopback: every message has its own MsgId and sender, questions cycle through a list,
and a message whose connection fails is sent again with the same MsgId (as WeChat retries), up to
`retries` times. Each message comes on a new connection, as nginx forwards WeChat's pushes to the server
(docs/deploy.md), unless `keep_alive`: then each client keeps one HTTP/1.1 connection open, and with
several workers most connections may land on one of them (a worker's accept takes every connection
waiting). The run is bounded by time; only the given URL is ever contacted.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import func, select

from bot.records.database import make_engine
from bot.records.models import Consultation

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


class LoadError(Exception):
    """A request that got no HTTP response; subclasses are named as httpx names them, for error_kinds."""


class ConnectError(LoadError): ...


class ConnectTimeout(LoadError): ...


class WriteError(LoadError): ...


class WriteTimeout(LoadError): ...


class ReadError(LoadError): ...


class ReadTimeout(LoadError): ...


class RemoteProtocolError(LoadError): ...


@dataclass(frozen=True, slots=True)
class _Target:
    """Where the pushes go: host, port and the path with any query of the URL."""

    host: str
    port: int
    tls: bool
    path: str

    @classmethod
    def of(cls, url: str) -> _Target:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        path = (parts.path or "/") + (f"?{parts.query}&" if parts.query else "?")
        return cls(parts.hostname or "127.0.0.1", parts.port or (443 if tls else 80), tls, path)

    @property
    def authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class _Connection:
    """One HTTP/1.1 connection, reopened after a failure, a close by the server, or every request unless
    `keep_alive`.

    A few lines of asyncio streams instead of httpx: the load generator shares the machine's CPUs with
    the server it measures, and httpx spent ~7 ms of CPU per request (20 clients), as much as the server's
    whole web path; this spends a fraction of that, which the server gets instead.
    """

    def __init__(self, target: _Target, timeout_s: float, *, keep_alive: bool) -> None:
        self._target = target
        self._timeout_s = timeout_s
        self._head = f"Host: {target.authority}\r\nUser-Agent: pufa-loadgen\r\nAccept: */*\r\n"
        if not keep_alive:
            self._head += "Connection: close\r\n"
        self._keep_alive = keep_alive
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, query: str, body: bytes) -> tuple[int, bytes]:
        """(status, body) of one POST; a LoadError when no complete response came back."""
        reader, writer = await self._open()
        try:
            await self._write(writer, query, body)
            status, payload, keep = await self._read(reader)
        except LoadError:
            self.close()
            raise
        if not (keep and self._keep_alive):
            self.close()
        return status, payload

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is not None and not self._streams[0].at_eof():
            return self._streams
        self.close()
        target = self._target
        ssl_context = ssl.create_default_context() if target.tls else None
        try:
            async with asyncio.timeout(self._timeout_s):
                self._streams = await asyncio.open_connection(target.host, target.port, ssl=ssl_context)
        except TimeoutError as exc:
            raise ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise ConnectError(str(exc)) from exc
        return self._streams

    async def _write(self, writer: asyncio.StreamWriter, query: str, body: bytes) -> None:
        line = f"POST {self._target.path}{query} HTTP/1.1\r\n"
        request = f"{line}{self._head}Content-Length: {len(body)}\r\n\r\n"
        try:
            async with asyncio.timeout(self._timeout_s):
                writer.write(request.encode("ascii") + body)
                await writer.drain()
        except TimeoutError as exc:
            raise WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise WriteError(str(exc)) from exc

    async def _read(self, reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        """Status, body, and whether the connection stays open for the next request."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await _read_response(reader)
        except TimeoutError as exc:
            raise ReadTimeout(str(exc)) from exc
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise RemoteProtocolError(f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise ReadError(str(exc)) from exc


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *lines = head[:-4].split("\r\n")
    version, status = status_line.split(" ", 2)[:2]
    fields = (line.partition(":") for line in lines)
    headers = {name.strip().lower(): value.strip() for name, _, value in fields}
    keep = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return int(status), await _read_chunked(reader), keep
    if "content-length" in headers:
        return int(status), await reader.readexactly(int(headers["content-length"])), keep
    return int(status), await reader.read(), False  # delimited by the server closing the connection


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
        body += await reader.readexactly(size + 2)
        del body[-2:]
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the closing empty line
        pass
    return bytes(body)


async def _client(target: _Target, token: str, messages: _Messages, deadline: float, retries: int,
                  report: LoadReport, timeout_s: float, keep_alive: bool) -> None:  # fmt: skip
    connection = _Connection(target, timeout_s, keep_alive=keep_alive)
    try:
        while time.monotonic() < deadline:
            openid, msg_id, question = next(messages)
            body = text_push(openid, msg_id, question)
            for _attempt in range(retries + 1):
                started = time.monotonic()
                try:
                    status, reply = await connection.post(urlencode(signed_query(token)), body)
                except LoadError as exc:
                    report.fail(type(exc).__name__)
                    continue  # WeChat sends the same message again
                if status == 200 and reply.startswith(b"<xml>"):
                    report.latencies_ms.append((time.monotonic() - started) * 1000)
                    report.answered.append(msg_id)
                else:
                    report.fail(f"HTTP {status}" if status != 200 else "not a reply")
                break
    finally:
        connection.close()


async def run_load(url: str, token: str, questions: Sequence[str], *, duration_s: float, concurrency: int,
                   retries: int = 0, timeout_s: float = 10.0,
                   keep_alive: bool = False) -> LoadReport:  # fmt: skip
    """`concurrency` clients sending messages back to back for `duration_s` seconds."""
    check_loopback(url)
    if not questions:
        raise ValueError("no questions to send: give a non-empty question list")
    report = LoadReport(started=time.time())
    messages = _Messages(questions)
    target = _Target.of(url)
    began = time.monotonic()
    deadline = began + duration_s
    await asyncio.gather(
        *(_client(target, token, messages, deadline, retries, report, timeout_s, keep_alive)
          for _ in range(concurrency))
    )
    report.elapsed_s = time.monotonic() - began
    return report


def _run(coroutine: Coroutine[Any, Any, LoadReport]) -> LoadReport:
    """On uvloop when installed (uvicorn[standard] brings it): a cheaper loop leaves the server more CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def drive(url: str, token: str, questions: Sequence[str], **options: Any) -> LoadReport:
    """`run_load` from synchronous code, on an event loop of its own in a helper thread (the calling
    thread may be running a loop already, as under a test's browser driver)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pufa-loadgen") as pool:
        return pool.submit(_run, run_load(url, token, questions, **options)).result()


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
