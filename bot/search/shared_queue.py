"""One retrieval queue for the children of all workers, in Redis (PUFA_REDIS_URL): whichever child is free
takes the oldest question, whichever worker asked it.

With a child per worker and a queue per child, each connection goes to the worker whose event loop
accepts it first, blind to how many questions wait at its child. The children search at the same pace
(each gets its share of the CPU), so the split of waiting questions between the workers wanders freely,
and so do the waits: 2 workers, 50 clients, 60 s: p50 172 ms, p99 364 ms; one worker alone, with the same
clients on one queue, kept p99 within 1.6 × p50. One queue makes the wait the same for every question.

Questions and answers are JSON (a question's vector as base64 float32), never pickles: the server is
shared, and what a child sends back is only article keys and numbers, which the worker looks up in its own
statutes. The queue's key names the township and the index build, so that a child answers only for an
index like its worker's.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, NamedTuple

import numpy as np
import redis

from bot.search.wire import Packed
from bot.settings import Settings

POLL_S = 1.0  # longest wait on Redis before checking whether the worker or child is still there
REPLY_KEEP_S = 60  # the answers to a worker that ended before it read them expire
SOCKET_TIMEOUT_S = POLL_S + 2.0  # beyond a blocking read's own wait
Reply = tuple[int, bool, Any]  # (question number, found, Packed or why not)
class Question(NamedTuple):
    """A question as a child takes it from the queue."""

    reply_key: str  # the asking worker's answer list
    number: int  # the worker's number for it
    text: str


class SharedQueue:
    """The deployment's question list and each worker's answer list, on one Redis server."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self._redis = client
        self.key = key

    @classmethod
    def for_settings(cls, settings: Settings, key: str | None = None) -> SharedQueue | None:
        """The queue of this deployment's index (None without PUFA_REDIS_URL); `key`: the one a worker
        passed to its child."""
        if not settings.redis_url:
            return None
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=SOCKET_TIMEOUT_S,
                                      socket_connect_timeout=SOCKET_TIMEOUT_S)  # fmt: skip
        return cls(client, key or _queue_key(settings))

    def reply_key(self, name: str) -> str:
        return f"{self.key}:answers:{name}"

    # The worker's side.
    def put(self, reply_key: str, number: int, question: str) -> None:
        self._redis.rpush(self.key, json.dumps([reply_key, number, question], ensure_ascii=False))

    def answer_for(self, reply_key: str) -> Reply | None:
        """The next answer on `reply_key`, or None after POLL_S without one."""
        item = self._redis.blpop([reply_key], timeout=POLL_S)
        if item is None:
            return None
        number, ok, value = json.loads(item[1])
        return number, ok, _unpacked(value) if ok else value

    # The child's side.
    def take(self) -> Question | None:
        """The oldest question, or None after POLL_S without one."""
        item = self._redis.blpop([self.key], timeout=POLL_S)
        return None if item is None else _question(item[1])

    def answer(
        self, question: Question, ok: bool, value: Packed | str, *, take_next: bool = True
    ) -> Question | None:
        """Send what was found for `question`; and take the oldest question waiting, if any, in the same
        round trip (a round trip cost a child ~0.1 ms of CPU, and Redis ~0.05 ms)."""
        body = [question.number, ok, _packed_json(value) if ok else value]  # type: ignore[arg-type]
        pipe = self._redis.pipeline(transaction=False)
        pipe.rpush(question.reply_key, json.dumps(body, ensure_ascii=False))
        pipe.expire(question.reply_key, REPLY_KEEP_S)
        if take_next:
            pipe.lpop(self.key)
        replies = pipe.execute()
        return _question(replies[2]) if take_next and replies[2] is not None else None

    def close(self) -> None:
        self._redis.close()


def _question(item: bytes | str) -> Question:
    reply_key, number, text = json.loads(item)
    return Question(str(reply_key), int(number), str(text))


def _queue_key(settings: Settings) -> str:
    """pufa:<township>:retrieval:<digest of the index's manifest, which names its build>."""
    manifest = (settings.index_dir / "manifest.json").read_bytes()
    return f"pufa:{settings.township}:retrieval:{hashlib.sha256(manifest).hexdigest()[:16]}"


def _packed_json(packed: Packed) -> list[Any]:
    hits, vector, legal = packed
    encoded = base64.b64encode(np.ascontiguousarray(vector).tobytes()).decode("ascii")
    return [[list(hit) for hit in hits], vector.dtype.str, encoded, legal]


def _unpacked(value: list[Any]) -> Packed:
    hits, dtype, encoded, legal = value
    vector = np.frombuffer(base64.b64decode(encoded), dtype=np.dtype(dtype)).copy()
    unpacked = tuple((law, int(number), score, tuple(retrievers), chunk_id, dense, bm25, margin)
                     for law, number, score, retrievers, chunk_id, dense, bm25, margin in hits)  # fmt: skip
    return unpacked, vector, float(legal)
