"""What the workers of one deployment share: claims on WeChat retries, the rate limit, the access token,
and the request signatures already used (a signed query string replayed with another body is refused).

Three backends behind one protocol: the database (the default: tables of bot/shared_state/database.py), Redis (when
PUFA_REDIS_URL is set; bot/shared_state/redis.py) and process memory. `Resilient` puts memory behind either
shared one, so a database or Redis outage costs sharing between workers, never a reply.

A turn is claimed before it is answered: the worker that owns the claim answers and stores its reply;
a retry that lands on any worker meanwhile waits for that reply, and gets it again once stored. A claim
whose worker died (lease passed, no reply) is taken over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from bot.errors import describe_error
from bot.shared_state.memory import RateLimiter, RecentReplies

if TYPE_CHECKING:

    pass

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], float]
RATE_WINDOW_S = 60
TURN_KEEP_S = 3600  # WeChat retries within 15 s; claims are kept an hour, then purged
# Used signatures one process keeps in memory (about 15 MB); most are forgotten after 10 minutes.
MAX_SIGNATURES = 50_000


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a turn: ours to answer, already answered (`reply`), or still pending.
    `allowed`: whether a turn of ours is within its sender's rate limit (`claim_turn`)."""

    owned: bool
    reply: str | None = None
    allowed: bool = True


OWNED = Claim(owned=True)
PENDING = Claim(owned=False)
RATE_LIMITED = Claim(owned=True, allowed=False)


class TokenStore(Protocol):
    """The account's access_token (with its expiry, Unix seconds) and a lease for renewing it."""

    def token(self, appid: str) -> tuple[str, float] | None: ...

    def save_token(self, appid: str, token: str, *, expires_at: float) -> None: ...

    def lease_token(self, appid: str, *, lease_s: float) -> bool: ...

    def release_token(self, appid: str) -> None: ...


class SharedState(TokenStore, Protocol):
    def claim(self, key: str, *, lease_s: float) -> Claim: ...

    def claim_turn(self, key: str, user_ref: str, *, lease_s: float, per_minute: int) -> Claim:
        """`claim`, then `allow` for its sender when the turn is ours (in one round trip where the backend
        can)."""
        ...

    def finish(self, key: str, reply: str) -> None: ...

    def allow(self, user_ref: str, *, per_minute: int) -> bool: ...

    def use_signature(self, signature: str, body_digest: str, *, until: float) -> bool:
        """True the first time `signature` comes, and again with the same body (WeChat sending the same
        push again); False when it comes back with another body: a replay. Remembered until `until`."""
        ...


def claim_then_allow(
    state: SharedState, key: str, user_ref: str, *, lease_s: float, per_minute: int
) -> Claim:
    """`claim_turn` as two calls, for backends that gain nothing from one."""
    claim = state.claim(key, lease_s=lease_s)
    if claim.owned and not state.allow(user_ref, per_minute=per_minute):
        return RATE_LIMITED
    return claim


def sliding_count(previous: int, current: int, now: float) -> float:
    """Messages in the last 60 s, estimated from two fixed windows (the previous one weighted by overlap)."""
    elapsed = (now % RATE_WINDOW_S) / RATE_WINDOW_S
    return previous * (1.0 - elapsed) + current


class MemoryState:
    """One process's state: exact, but not shared with other workers."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._leases: dict[str, float] = {}
        self._replies = RecentReplies()
        self._limiters: dict[int, RateLimiter] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._token_leases: dict[str, float] = {}
        self._signatures: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def claim(self, key: str, *, lease_s: float) -> Claim:
        if (reply := self._replies.get(key)) is not None:
            return Claim(owned=False, reply=reply)
        now = self._clock()
        with self._lock:
            if self._leases.get(key, 0.0) > now:
                return PENDING
            self._leases[key] = now + lease_s
            for stale in [k for k, until in self._leases.items() if until <= now]:
                del self._leases[stale]
        return OWNED

    def claim_turn(self, key: str, user_ref: str, *, lease_s: float, per_minute: int) -> Claim:
        return claim_then_allow(self, key, user_ref, lease_s=lease_s, per_minute=per_minute)

    def finish(self, key: str, reply: str) -> None:
        self._replies.put(key, reply)
        with self._lock:
            self._leases.pop(key, None)

    def allow(self, user_ref: str, *, per_minute: int) -> bool:
        with self._lock:
            limiter = self._limiters.setdefault(per_minute, RateLimiter(per_minute, clock=self._clock))
        return limiter.allow(user_ref)

    def use_signature(self, signature: str, body_digest: str, *, until: float) -> bool:
        now = self._clock()
        with self._lock:
            seen = self._signatures.get(signature)
            if seen is not None and seen[1] >= now:
                return seen[0] == body_digest
            self._signatures[signature] = (body_digest, until)
            # Mostly in order of expiry (timestamps are close to now); the cap bounds the rest.
            while self._signatures and next(iter(self._signatures.values()))[1] < now:
                self._signatures.popitem(last=False)
            while len(self._signatures) > MAX_SIGNATURES:
                self._signatures.popitem(last=False)
            return True

    def token(self, appid: str) -> tuple[str, float] | None:
        return self._tokens.get(appid)

    def save_token(self, appid: str, token: str, *, expires_at: float) -> None:
        self._tokens[appid] = (token, expires_at)

    def lease_token(self, appid: str, *, lease_s: float) -> bool:
        now = self._clock()
        with self._lock:
            if self._token_leases.get(appid, 0.0) > now:
                return False
            self._token_leases[appid] = now + lease_s
            return True

    def release_token(self, appid: str) -> None:
        with self._lock:
            self._token_leases.pop(appid, None)


class Resilient:
    """`shared`, or `local` memory while `shared` fails (logged once per outage, by type only)."""

    def __init__(self, shared: SharedState, local: SharedState | None = None) -> None:
        self.shared = shared
        self.local = local or MemoryState()
        self._down = False

    def _try(self, call: Callable[[SharedState], T]) -> T:
        try:
            result = call(self.shared)
        except Exception as exc:  # noqa: BLE001 - any outage falls back to this worker's memory
            if not self._down:
                log.error("shared state unavailable, using this worker's memory: %s", describe_error(exc))
            self._down = True
            return call(self.local)
        if self._down:
            log.info("shared state is back")
            self._down = False
        return result

    def claim(self, key: str, *, lease_s: float) -> Claim:
        return self._try(lambda s: s.claim(key, lease_s=lease_s))

    def claim_turn(self, key: str, user_ref: str, *, lease_s: float, per_minute: int) -> Claim:
        return self._try(lambda s: s.claim_turn(key, user_ref, lease_s=lease_s, per_minute=per_minute))

    def finish(self, key: str, reply: str) -> None:
        self.local.finish(key, reply)  # also here: a retry during an outage still finds it
        self._try(lambda s: s.finish(key, reply))

    def allow(self, user_ref: str, *, per_minute: int) -> bool:
        return self._try(lambda s: s.allow(user_ref, per_minute=per_minute))

    def use_signature(self, signature: str, body_digest: str, *, until: float) -> bool:
        return self._try(lambda s: s.use_signature(signature, body_digest, until=until))

    def token(self, appid: str) -> tuple[str, float] | None:
        return self._try(lambda s: s.token(appid))

    def save_token(self, appid: str, token: str, *, expires_at: float) -> None:
        self._try(lambda s: s.save_token(appid, token, expires_at=expires_at))

    def lease_token(self, appid: str, *, lease_s: float) -> bool:
        return self._try(lambda s: s.lease_token(appid, lease_s=lease_s))

    def release_token(self, appid: str) -> None:
        self._try(lambda s: s.release_token(appid))
