"""Shared state in Redis (PUFA_REDIS_URL): the same contract as bot/shared_state/database.py, with Redis expiry.

Keys live under "pufa:<township>:". A turn has a lease key (SET NX PX: it expires by itself when its
worker dies) and a reply key kept an hour, both read or taken by one Lua script; the rate limit counts
fixed minutes with INCR, in the same script when a turn is claimed (`claim_turn`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import redis

from bot.shared_state.base import (
    OWNED,
    PENDING,
    RATE_LIMITED,
    RATE_WINDOW_S,
    TURN_KEEP_S,
    Claim,
    Clock,
    sliding_count,
)

# A turn's claim in one round trip, atomic: the stored reply, else 0 when another worker holds the lease.
# Else the lease is ours: 1, or, given the sender's rate-limit keys (`claim_turn`), the message counted in
# this minute's window: {this minute's count, the previous minute's}. Every round trip costs this process
# and Redis ~0.1 ms of CPU together; the claim alone was three, and the rate limit's pipeline one more.
_CLAIM = """
local reply = redis.call('GET', KEYS[1])
if reply then return reply end
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 0 end
if #KEYS == 2 then return 1 end
local current = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return {current, redis.call('GET', KEYS[4]) or '0'}
"""
# A used signature: its body's digest, expiring by itself; the same body again is accepted (a resend).
_USE_SIGNATURE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""
SOCKET_TIMEOUT_S = 1.0  # a stalled Redis must cost little of the 5 s reply budget (memory takes over)


class RedisState:
    """SharedState on one Redis server."""

    def __init__(self, client: redis.Redis, *, namespace: str, clock: Clock = time.time) -> None:
        self._redis = client
        self._prefix = f"pufa:{namespace}:"
        self._clock = clock
        self._claim = client.register_script(_CLAIM)
        self._use_signature = client.register_script(_USE_SIGNATURE)

    @classmethod
    def from_url(cls, url: str, *, namespace: str, clock: Clock = time.time) -> RedisState:
        client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            decode_responses=True,
        )
        return cls(client, namespace=namespace, clock=clock)

    def _key(self, *parts: str | int) -> str:
        return self._prefix + ":".join(str(p) for p in parts)

    def claim(self, key: str, *, lease_s: float) -> Claim:
        return _claimed(self._claim(keys=self._turn_keys(key), args=[int(lease_s * 1000)]))

    def claim_turn(self, key: str, user_ref: str, *, lease_s: float, per_minute: int) -> Claim:
        now = self._clock()
        current_key, previous_key = self._rate_keys(user_ref, now)
        found = self._claim(keys=[*self._turn_keys(key), current_key, previous_key],
                            args=[int(lease_s * 1000), 2 * RATE_WINDOW_S])  # fmt: skip
        if not isinstance(found, list):
            return _claimed(found)
        current, previous = (int(count) for count in found)
        return OWNED if self._within(now, previous, current, per_minute, current_key) else RATE_LIMITED

    def _turn_keys(self, key: str) -> list[str]:
        return [self._key("turn", key, "reply"), self._key("turn", key, "lease")]

    def finish(self, key: str, reply: str) -> None:
        pipe = self._redis.pipeline(transaction=False)  # the reply and the lease are separate facts
        pipe.set(self._key("turn", key, "reply"), reply, ex=TURN_KEEP_S, nx=True)  # the first reply stands
        pipe.delete(self._key("turn", key, "lease"))
        pipe.execute()

    def allow(self, user_ref: str, *, per_minute: int) -> bool:
        now = self._clock()
        current_key, previous_key = self._rate_keys(user_ref, now)
        pipe = self._redis.pipeline(transaction=False)  # one round trip; the counts need no transaction
        pipe.incr(current_key)
        pipe.expire(current_key, 2 * RATE_WINDOW_S)
        pipe.get(previous_key)
        current, _, previous = pipe.execute()
        return self._within(now, int(previous or 0), int(current), per_minute, current_key)

    def use_signature(self, signature: str, body_digest: str, *, until: float) -> bool:
        keep_s = max(1, math.ceil(until - self._clock()))
        return bool(self._use_signature(keys=[self._key("sig", signature)], args=[body_digest, keep_s]) == 1)

    def _rate_keys(self, user_ref: str, now: float) -> tuple[str, str]:
        """The keys of this minute's count of the user's messages, and of the previous minute's."""
        window = int(now // RATE_WINDOW_S)
        return self._key("rate", user_ref, window), self._key("rate", user_ref, window - 1)

    def _within(self, now: float, previous: int, current: int, per_minute: int, current_key: str) -> bool:
        if sliding_count(previous, current, now) <= per_minute:
            return True
        self._redis.decr(current_key)  # a refused message does not prolong the block
        return False

    def token(self, appid: str) -> tuple[str, float] | None:
        found: dict[str, Any] = self._redis.hgetall(self._key("token", appid))  # type: ignore[assignment]
        if not found.get("token"):
            return None
        return str(found["token"]), float(found["expires_at"])

    def save_token(self, appid: str, token: str, *, expires_at: float) -> None:
        self._redis.hset(self._key("token", appid), mapping={"token": token, "expires_at": repr(expires_at)})

    def lease_token(self, appid: str, *, lease_s: float) -> bool:
        return bool(self._redis.set(self._key("token", appid, "lease"), "1", nx=True, px=int(lease_s * 1000)))

    def release_token(self, appid: str) -> None:
        self._redis.delete(self._key("token", appid, "lease"))


def _claimed(found: int | str) -> Claim:
    """`_CLAIM`'s answer without rate-limit keys: 1 ours, 0 pending, else the stored reply."""
    if found == 1:
        return OWNED
    return PENDING if found == 0 else Claim(owned=False, reply=str(found))
